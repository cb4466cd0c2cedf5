"""Review rules: who decides, blocking items, due dates by tier, staleness, review state."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from tests.vendors.helpers import complete_review
from vendors import services
from vendors.models import ChecklistItem, SubprocessorReview
from vendors.selectors import ReviewState, vendor_list, vendor_review_state

pytestmark = pytest.mark.django_db


def _state(vendor) -> str:
    return vendor_review_state(vendor.pk)


def test_the_submitter_cannot_decide_their_own_review(vendor, security, security2):
    review = services.review_start(vendor_id=vendor.pk, actor=security)
    complete_review(review, security)
    services.review_submit(review_id=review.pk, actor=security)
    with pytest.raises(PermissionDenied, match="another member of the security team"):
        services.review_decide(
            review_id=review.pk, actor=security, decision="approved", mfa_verified=True
        )
    decided = services.review_decide(
        review_id=review.pk, actor=security2, decision="approved", mfa_verified=True
    )
    assert decided.decided_by == security2


def test_only_security_decides(submitted_review, other_engineer, auditor):
    for person in (other_engineer, auditor):
        with pytest.raises(PermissionDenied):
            services.review_decide(
                review_id=submitted_review.pk, actor=person, decision="approved", mfa_verified=True
            )
    submitted_review.refresh_from_db()
    assert submitted_review.status == "submitted"


def test_the_database_refuses_a_decider_equal_to_the_submitter(submitted_review):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        SubprocessorReview.objects.filter(pk=submitted_review.pk).update(
            decided_by=submitted_review.submitted_by
        )


def test_a_draft_cannot_be_decided_and_a_decided_review_not_again(vendor, engineer, security):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    with pytest.raises(ValidationError, match="Only a submitted review"):
        services.review_decide(
            review_id=review.pk, actor=security, decision="approved", mfa_verified=True
        )


def test_reject_needs_a_comment_and_conditions_need_conditions(submitted_review, security):
    with pytest.raises(ValidationError) as rejected:
        services.review_decide(
            review_id=submitted_review.pk, actor=security, decision="rejected", mfa_verified=True
        )
    assert "comment" in rejected.value.error_dict
    with pytest.raises(ValidationError) as conditional:
        services.review_decide(
            review_id=submitted_review.pk, actor=security, decision="conditional", mfa_verified=True
        )
    assert "conditions" in conditional.value.error_dict


def test_submission_lists_every_missing_piece(vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    with pytest.raises(ValidationError) as error:
        services.review_submit(review_id=review.pk, actor=engineer)
    fields = error.value.error_dict
    assert "report_type" in fields
    assert "residual_risk" in fields
    assert len([f for f in fields if f.startswith("answer_")]) == review.answers.count()


def test_evidence_required_items_need_a_file(vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    review.evidence.all().delete()
    with pytest.raises(ValidationError) as error:
        services.review_submit(review_id=review.pk, actor=engineer)
    required = review.answers.filter(evidence_required=True)
    assert {f"answer_{a.pk}" for a in required} == set(error.value.error_dict)


def test_open_blocking_item_refuses_plain_approval(vendor, engineer, security):
    # C17 (security terms) blocks approval for critical and high vendors; this one is high.
    assert vendor.effective_tier == "high"
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer, no_codes=("C17",))
    services.review_submit(review_id=review.pk, actor=engineer)
    with pytest.raises(ValidationError, match="C17"):
        services.review_decide(
            review_id=review.pk, actor=security, decision="approved", mfa_verified=True
        )
    services.review_decide(
        review_id=review.pk,
        actor=security,
        decision="conditional",
        conditions="Sign the security addendum by March.",
        mfa_verified=True,
    )
    assert _state(vendor) == ReviewState.BLOCKING


def test_a_no_on_an_item_not_blocking_for_the_tier_does_not_block(make_vendor, engineer, security):
    low = make_vendor(
        name="Tiny", slug="tiny", data_sensitivity="none", access_level="none", criticality="low"
    )
    assert low.effective_tier == "low"
    review = services.review_start(vendor_id=low.pk, actor=engineer)
    complete_review(review, engineer, no_codes=("C17",))
    services.review_submit(review_id=review.pk, actor=engineer)
    services.review_decide(
        review_id=review.pk, actor=security, decision="approved", mfa_verified=True
    )
    assert _state(low) == ReviewState.CURRENT


@pytest.mark.parametrize(
    ("tier_inputs", "months"),
    [
        ({"data_sensitivity": "customer"}, 6),
        ({"access_level": "write"}, 12),
        ({"data_sensitivity": "internal", "access_level": "read", "criticality": "low"}, 12),
        ({"data_sensitivity": "none", "access_level": "none", "criticality": "low"}, 24),
    ],
)
def test_next_review_date_follows_the_tier(make_vendor, engineer, security, tier_inputs, months):
    vendor = make_vendor(
        **{"data_sensitivity": "none", "access_level": "none", "criticality": "low", **tier_inputs}
    )
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    services.review_submit(review_id=review.pk, actor=engineer)
    decided = services.review_decide(
        review_id=review.pk, actor=security, decision="approved", mfa_verified=True
    )
    assert decided.next_review_due == services.add_months(timezone.localdate(), months)


def test_review_interval_is_configurable(vendor, engineer, security, settings):
    settings.PORTAL_REVIEW_INTERVAL_MONTHS = {**settings.PORTAL_REVIEW_INTERVAL_MONTHS, "high": 3}
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    services.review_submit(review_id=review.pk, actor=engineer)
    decided = services.review_decide(
        review_id=review.pk, actor=security, decision="approved", mfa_verified=True
    )
    assert decided.next_review_due == services.add_months(timezone.localdate(), 3)


def test_add_months_clamps_to_the_end_of_the_month():
    assert services.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert services.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert services.add_months(date(2026, 11, 15), 6) == date(2027, 5, 15)
    assert services.add_months(date(2026, 3, 31), -13) == date(2025, 2, 28)


def test_review_states_are_computed_in_the_database(vendor, approved_review, security):
    assert _state(vendor) == ReviewState.CURRENT
    today = timezone.localdate()
    SubprocessorReview.objects.filter(pk=approved_review.pk).update(
        next_review_due=today + timedelta(days=10)
    )
    assert _state(vendor) == ReviewState.DUE_SOON
    SubprocessorReview.objects.filter(pk=approved_review.pk).update(
        next_review_due=today - timedelta(days=1)
    )
    assert _state(vendor) == ReviewState.OVERDUE
    # Filtering by state happens in SQL, together with the other filters.
    assert list(vendor_list(review_state=ReviewState.OVERDUE)) == [vendor]
    assert list(vendor_list(review_state=ReviewState.CURRENT)) == []


def test_soc_report_is_stale_after_twelve_months_without_a_bridge_letter(
    vendor, engineer, security
):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer, period_end_days_ago=400)
    services.review_submit(review_id=review.pk, actor=engineer)
    services.review_decide(
        review_id=review.pk, actor=security, decision="approved", mfa_verified=True
    )
    assert _state(vendor) == ReviewState.STALE
    SubprocessorReview.objects.filter(pk=review.pk).update(
        bridge_letter_through=timezone.localdate() - timedelta(days=20)
    )
    assert _state(vendor) == ReviewState.CURRENT


def test_vendor_without_approved_review_is_none_and_rejection_does_not_count(
    submitted_review, security, vendor
):
    assert _state(vendor) == ReviewState.NONE
    services.review_decide(
        review_id=submitted_review.pk,
        actor=security,
        decision="rejected",
        comment="Report is for the hosting provider only.",
        mfa_verified=True,
    )
    assert _state(vendor) == ReviewState.NONE


def test_only_one_open_review_per_vendor(vendor, engineer):
    services.review_start(vendor_id=vendor.pk, actor=engineer)
    with pytest.raises(ValidationError, match="already in progress"):
        services.review_start(vendor_id=vendor.pk, actor=engineer)


def test_changing_the_catalogue_never_rewrites_given_answers(vendor, engineer, security):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    answer = review.answers.get(item_code="B5")
    item = ChecklistItem.objects.get(code="B5")
    item.text = "Completely different question"
    item.blocking_tiers = []
    item.save()
    answer.refresh_from_db()
    assert answer.item_text.startswith("The attestation is a SOC 2 Type II report")
    assert answer.blocking is True


def test_a_submitted_review_is_frozen(submitted_review, engineer):
    with pytest.raises(ValidationError, match="can no longer be changed"):
        services.review_update(
            review_id=submitted_review.pk,
            actor=engineer,
            report={"auditor_firm": "Other"},
            answers={},
        )


def test_every_step_writes_an_audit_event(submitted_review, security):
    services.review_decide(
        review_id=submitted_review.pk, actor=security, decision="approved", mfa_verified=True
    )
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    for action in (
        "vendor.create",
        "review.start",
        "review.update",
        "review.evidence_add",
        "review.submit",
        "review.decide",
    ):
        assert action in actions
    decision = AuditEvent.objects.get(action="review.decide")
    assert decision.before is not None
    assert decision.after is not None
    assert decision.before["status"] == "submitted"
    assert decision.after["status"] == "approved"
    assert decision.actor_username == "sam"


def test_a_decided_review_tells_the_owner_and_security_with_the_comment(
    submitted_review, security, security2, engineer, django_capture_on_commit_callbacks
):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        services.review_decide(
            review_id=submitted_review.pk,
            actor=security,
            decision="rejected",
            mfa_verified=True,
            comment="The report does not cover the hosted service.",
        )
    # erin owns the vendor; security hears it too (sam decided it, sasha did not).
    assert sorted(m.to for m in mail.outbox) == [
        [engineer.email],
        [security.email, security2.email],
    ]
    for message in mail.outbox:
        assert message.subject == "[Vendor access] Orbit CI had its review decided: Rejected"
        assert "The report does not cover the hosted service." in message.body
        assert "Comment from sam:" in message.body
