"""The vendor, review and key-recipient-change moves go through their tables
(`vendors.models`): each refusal keeps its own wording, each move saves what changed with it,
audits as before, and a decided key recipient change releases the held links from the table."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from keys import tasks as key_tasks
from tests.vendors.helpers import complete_review
from vendors import services
from vendors.models import KeyRecipientChange, SubprocessorReview, Vendor

pytestmark = pytest.mark.django_db


def _statuses(event: AuditEvent) -> tuple[str, str]:
    return (event.before or {})["status"], (event.after or {})["status"]


def test_offboarding_twice_is_refused_in_its_own_words_and_audited_once(vendor, security):
    services.vendor_mark_offboarded(vendor_id=vendor.pk, actor=security, mfa_verified=True)
    first_day = Vendor.objects.get(pk=vendor.pk).offboarded_on
    with pytest.raises(ValidationError, match="already offboarded"):
        services.vendor_mark_offboarded(vendor_id=vendor.pk, actor=security, mfa_verified=True)
    stored = Vendor.objects.get(pk=vendor.pk)
    assert (stored.status, stored.offboarded_on) == ("offboarded", first_day)
    [event] = AuditEvent.objects.filter(action="vendor.offboard", object_id=str(vendor.pk))
    assert _statuses(event) == ("active", "offboarded")
    assert (event.after or {})["offboarded_on"] == str(first_day)


def test_submit_and_decide_save_every_field_that_changes_with_the_status(
    vendor, engineer, security
):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    services.review_submit(review_id=review.pk, actor=engineer)
    stored = SubprocessorReview.objects.get(pk=review.pk)
    assert (stored.status, stored.submitted_by, stored.submitted_at is not None) == (
        "submitted",
        engineer,
        True,
    )
    services.review_decide(
        review_id=review.pk,
        actor=security,
        decision="conditional",
        mfa_verified=True,
        comment=" Fine. ",
        conditions=" Bridge letter by March. ",
    )
    stored = SubprocessorReview.objects.get(pk=review.pk)
    assert stored.status == "conditional"
    assert stored.decided_by == security
    assert stored.decided_at is not None
    assert (stored.decision_comment, stored.conditions) == ("Fine.", "Bridge letter by March.")
    assert stored.next_review_due is not None
    actions = AuditEvent.objects.filter(object_id=str(review.pk)).values_list("action", flat=True)
    assert {"review.submit", "review.decide"} <= set(actions)
    decide = AuditEvent.objects.get(action="review.decide", object_id=str(review.pk))
    assert _statuses(decide) == ("submitted", "conditional")


def test_a_decision_that_is_not_one_is_refused(submitted_review, security):
    with pytest.raises(ValidationError) as refused:
        services.review_decide(
            review_id=submitted_review.pk, actor=security, decision="draft", mfa_verified=True
        )
    assert "decision" in refused.value.error_dict


def _pending_change(vendor, engineer) -> KeyRecipientChange:  # type: ignore[no-untyped-def]
    for name, email in (("A", "a@vendor.example"), ("B", "b@vendor.example")):
        services.contact_save(
            vendor_id=vendor.pk,
            actor=engineer,
            data={"name": name, "email": email, "receives_access_keys": True},
        )
    change = services.pending_key_recipient_change(vendor.pk)
    assert change is not None
    return change


@pytest.mark.parametrize("confirm", [True, False])
def test_a_decided_change_releases_the_vendors_held_links_after_the_commit(
    vendor, engineer, security, monkeypatch, django_capture_on_commit_callbacks, confirm
):
    change = _pending_change(vendor, engineer)
    released: list[int] = []
    monkeypatch.setattr(key_tasks.key_deliveries_release_task, "delay", released.append)
    with django_capture_on_commit_callbacks(execute=True):
        services.key_recipient_change_decide(
            change_id=change.pk, actor=security, confirm=confirm, mfa_verified=True, comment="Ok"
        )
        assert released == []  # not before the commit
    assert released == [vendor.pk]
    stored = KeyRecipientChange.objects.get(pk=change.pk)
    assert stored.status == ("confirmed" if confirm else "rejected")
    assert (stored.decided_by, stored.decision_comment) == (security, "Ok")
    assert stored.decided_at is not None
    action = "vendor.key_recipient_confirm" if confirm else "vendor.key_recipient_reject"
    event = AuditEvent.objects.get(action=action, object_id=str(change.pk))
    assert _statuses(event) == ("pending", stored.status)


def test_a_second_decision_is_refused_as_such_before_its_comment_is_asked_for(
    vendor, engineer, security, monkeypatch
):
    change = _pending_change(vendor, engineer)
    monkeypatch.setattr(key_tasks.key_deliveries_release_task, "delay", lambda vendor_id: None)
    services.key_recipient_change_decide(
        change_id=change.pk, actor=security, confirm=True, mfa_verified=True
    )
    with pytest.raises(ValidationError, match="decided already"):
        services.key_recipient_change_decide(
            change_id=change.pk, actor=security, confirm=False, mfa_verified=True
        )
