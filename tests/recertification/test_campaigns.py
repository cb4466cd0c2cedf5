"""Re-certification through its services: starting, the two parts, revocation, the deadline
sweep and the review cadence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from approvals.models import AccessRequest, Approval
from audit.models import AuditEvent
from audit.services import audit_verify
from fulfilment import revocation
from fulfilment.models import PullRequest
from recertification import services
from recertification.models import Campaign, Certification
from tests.fulfilment.helpers import status
from tests.recertification.conftest import answer, start
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services
from vendors.models import Vendor

pytestmark = pytest.mark.django_db


def _other_vendor_grant(engineer, *, tier: str = "low", slug: str = "nimbus-logs") -> AccessRequest:
    vendor = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, name=slug.title(), slug=slug)
    )
    Vendor.objects.filter(pk=vendor.pk).update(tier=tier, tier_override="")
    return AccessRequest.objects.create(
        vendor=vendor, requester=engineer, strategy="role_per_account", status="active"
    )


def _item(campaign: Campaign, grant: AccessRequest) -> Certification:
    return Certification.objects.get(campaign=campaign, access_request=grant)


def _revoke_events(grant: AccessRequest) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="request.revoke", object_id=str(grant.pk)))


# --- starting ---------------------------------------------------------------------------------


def test_security_starts_a_campaign_over_the_live_grants_matching_its_filter(
    grant, engineer, security, django_capture_on_commit_callbacks, mailoutbox
):
    other = _other_vendor_grant(engineer, tier="low")
    AccessRequest.objects.create(
        vendor=grant.vendor, requester=engineer, strategy="role_per_account", status="draft"
    )
    with django_capture_on_commit_callbacks(execute=True):
        by_vendor = start(security, vendor_id=grant.vendor_id)
    assert list(by_vendor.certifications.values_list("access_request_id", flat=True)) == [grant.pk]
    assert by_vendor.status == "open"
    assert by_vendor.kind == "manual"
    assert by_vendor.started_by == security
    event = AuditEvent.objects.get(action="recertification.campaign_start")
    assert (event.after or {})["requests"] == [grant.pk]
    asked = [m for m in mailoutbox if "needs to be re-certified" in m.subject]
    assert any(engineer.email in m.to for m in asked)  # the vendor's internal owner
    assert any("Due by" in m.body for m in asked)
    assert any(f"/recertification/{by_vendor.pk}/" in m.body for m in asked)  # where to answer

    by_tier = start(security, tier="low", name="Low tier")
    assert [c.access_request_id for c in by_tier.certifications.all()] == [other.pk]
    # Every live grant is in an open campaign now: nothing is left to take.
    with pytest.raises(ValidationError, match="No live grant"):
        start(security, name="Everything")


@pytest.mark.parametrize(("days", "accepted"), [(0, False), (1, True), (90, True), (91, False)])
def test_the_deadline_is_tomorrow_at_the_earliest_and_within_ninety_days(
    grant, security, days, accepted
):
    deadline = timezone.localdate() + timedelta(days=days)
    if accepted:
        assert start(security, deadline=deadline).deadline == deadline
    else:
        with pytest.raises(ValidationError) as refused:
            start(security, deadline=deadline)
        assert "deadline" in refused.value.message_dict
        assert not Campaign.objects.exists()


def test_only_security_with_a_second_factor_starts_a_campaign(grant, engineer, security):
    deadline = timezone.localdate() + timedelta(days=7)
    with pytest.raises(PermissionDenied, match="second factor"):
        services.campaign_start(actor=security, mfa_verified=False, name="x", deadline=deadline)
    with pytest.raises(PermissionDenied):
        services.campaign_start(actor=engineer, mfa_verified=True, name="x", deadline=deadline)
    assert not Campaign.objects.exists()


# --- answering --------------------------------------------------------------------------------


def test_owner_keep_and_security_keep_keep_the_grant(grant, engineer, security2):
    campaign = start(security2)
    item = _item(campaign, grant)
    item = answer(item, engineer, "owner", "keep", "Nightly scans still run.")
    assert item.outcome == "pending"  # one part is not enough
    item = answer(item, security2, "security", "keep", "Scope is still least privilege.")
    item.refresh_from_db()
    assert (item.outcome, item.closed_by) == ("kept", "both")
    assert item.decided_at is not None
    assert (item.owner_by, item.owner_note) == (engineer, "Nightly scans still run.")
    assert item.security_by == security2
    assert status(grant) == "approved"  # still live
    campaign.refresh_from_db()
    assert campaign.status == "closed"  # its only item is decided
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"recertification.answer", "recertification.decide"} <= actions
    assert "recertification.campaign_close" in actions


def test_one_person_cannot_answer_both_parts(grant, security, security2):
    Vendor.objects.filter(pk=grant.vendor_id).update(internal_owner=security)
    item = _item(start(security2), grant)
    answer(item, security, "owner", "keep")
    with pytest.raises(ValidationError, match="Two people"):
        answer(item, security, "security", "keep")
    item.refresh_from_db()
    assert (item.security_decision, item.outcome) == ("", "pending")
    answer(item, security2, "security", "keep")
    item.refresh_from_db()
    assert item.outcome == "kept"


def test_only_the_owner_answers_the_owners_part_and_security_needs_its_second_factor(
    grant, engineer, security, make_user
):
    item = _item(start(security), grant)
    with pytest.raises(PermissionDenied, match="internal owner"):
        answer(item, make_user("olga"), "owner", "keep")
    with pytest.raises(PermissionDenied, match="internal owner"):
        answer(item, security, "owner", "keep")  # security does not answer for the owner
    with pytest.raises(PermissionDenied):
        answer(item, engineer, "security", "keep")
    with pytest.raises(PermissionDenied, match="second factor"):
        services.certification_answer(
            certification_id=item.pk,
            actor=security,
            part="security",
            decision="keep",
            note="x",
            mfa_verified=False,
        )
    item.refresh_from_db()
    assert (item.owner_decision, item.security_decision) == ("", "")


@pytest.mark.parametrize("note", ["", "   "])
def test_an_answer_needs_a_note(grant, engineer, security, note):
    item = _item(start(security), grant)
    with pytest.raises(ValidationError, match="note"):
        answer(item, engineer, "owner", "keep", note)
    with pytest.raises(ValidationError, match="note"):
        answer(item, security, "security", "revoke", note)
    item.refresh_from_db()
    assert (item.owner_decision, item.security_decision, item.outcome) == ("", "", "pending")
    assert status(grant) == "approved"


@pytest.mark.parametrize("part", ["owner", "security"])
def test_either_part_saying_revoke_revokes_the_grant_and_queues_its_removal(
    github, active, engineer, security2, part, django_capture_on_commit_callbacks, mailoutbox
):
    item = _item(start(security2), active)
    actor = engineer if part == "owner" else security2
    with django_capture_on_commit_callbacks(execute=True):
        item = answer(item, actor, part, "revoke", "The contract ended in November.")
    assert status(active) == "revoked"
    assert (item.outcome, item.closed_by) == ("revoked", part)
    [event] = _revoke_events(active)
    assert event.actor_id == actor.pk
    assert "The contract ended in November." in (event.after or {})["reason"]
    row = PullRequest.objects.get(access_request=active, purpose="revoke")
    assert row.state == "open"  # the removal pull request, opened after the commit
    assert row.number in github.pulls
    told = [m for m in mailoutbox if "revoked by its re-certification" in m.subject]
    assert any(engineer.email in m.to for m in told)


def test_a_grant_revoked_meanwhile_closes_as_revoked_and_is_not_revoked_twice(
    grant, engineer, security, security2, django_capture_on_commit_callbacks, mailoutbox
):
    item = _item(start(security2), grant)
    revocation.request_revoke(
        request_id=grant.pk, actor=security, mfa_verified=True, reason="Breach at the vendor."
    )
    with django_capture_on_commit_callbacks(execute=True):
        item = answer(item, engineer, "owner", "revoke", "No longer needed.")
    # Its own revocation told whoever needed telling; the campaign did not revoke it.
    assert not [m for m in mailoutbox if "revoked by its re-certification" in m.subject]
    assert (item.outcome, item.closed_by) == ("revoked", "revoked_elsewhere")
    assert item.owner_decision == ""  # nothing to answer: it was revoked already
    assert len(_revoke_events(grant)) == 1
    with pytest.raises(ValidationError, match="decided already"):
        answer(item, security2, "security", "keep")


# --- the deadline -----------------------------------------------------------------------------


def test_the_deadline_warns_once_then_revokes_through_the_removal_path(
    github, active, engineer, security, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.PORTAL_RECERT_WARN_DAYS = 3
    today = timezone.localdate()
    campaign = start(security, deadline=today + timedelta(days=10))
    item = _item(campaign, active)
    answer(item, engineer, "owner", "keep")  # one part only: still undecided

    assert services.campaigns_sweep(today=today)["warned"] == 0  # too early
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.campaigns_sweep(today=today + timedelta(days=7))
    assert counts["warned"] == 1
    warned = [m for m in mailoutbox if "not re-certified yet" in m.subject]
    assert warned
    assert any(engineer.email in m.to for m in warned)
    assert f"Due by {campaign.deadline.isoformat()}" in warned[0].body
    item.refresh_from_db()
    assert item.warned_at is not None
    assert services.campaigns_sweep(today=today + timedelta(days=8))["warned"] == 0  # once
    # The deadline is the last day to answer.
    assert services.campaigns_sweep(today=campaign.deadline)["revoked"] == 0
    assert status(active) == "active"

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.campaigns_sweep(today=campaign.deadline + timedelta(days=1))
    assert counts["revoked"] == 1
    assert counts["campaigns_closed"] == 1
    assert status(active) == "revoked"
    [event] = _revoke_events(active)
    assert event.actor_id is None  # the system
    assert (event.after or {})["source"] == "recertification"
    assert (event.after or {})["reason"] == f"Not re-certified by {campaign.deadline.isoformat()}"
    item.refresh_from_db()
    assert (item.outcome, item.closed_by) == ("revoked", "deadline")
    assert PullRequest.objects.get(access_request=active, purpose="revoke").state == "open"
    assert AuditEvent.objects.filter(action="recertification.warn").count() == 1
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    # Idempotent: a later sweep finds nothing more to do.
    later = services.campaigns_sweep(today=campaign.deadline + timedelta(days=2))
    assert later == {"warned": 0, "revoked": 0, "closed_elsewhere": 0, "campaigns_closed": 0}
    assert len(_revoke_events(active)) == 1
    assert audit_verify().ok


def test_the_sweep_closes_an_item_whose_grant_was_revoked_meanwhile(grant, security):
    campaign = start(security)
    revocation.request_revoke(
        request_id=grant.pk, actor=security, mfa_verified=True, reason="Vendor breach."
    )
    counts = services.campaigns_sweep()
    assert (counts["closed_elsewhere"], counts["revoked"], counts["campaigns_closed"]) == (1, 0, 1)
    assert _item(campaign, grant).closed_by == "revoked_elsewhere"
    assert len(_revoke_events(grant)) == 1


# --- the cadence ------------------------------------------------------------------------------


def test_the_cadence_opens_a_campaign_for_grants_older_than_the_tiers_interval(
    grant, engineer, settings
):
    settings.PORTAL_RECERT_DAYS = 14
    recent = _other_vendor_grant(engineer, tier="low", slug="fresh-vendor")
    Approval.objects.create(
        access_request=recent, approver=grant.approvals.get().approver, decision="approve"
    )
    months = vendor_services.review_interval_months(grant.vendor.effective_tier)
    long_ago = timezone.now() - timedelta(days=31 * months + 5)
    Approval.objects.filter(access_request=grant).update(created_at=long_ago)

    today = timezone.localdate()
    opened = services.campaigns_cadence(today=today)
    [campaign] = Campaign.objects.filter(pk__in=opened)
    assert (campaign.kind, campaign.vendor_id, campaign.started_by) == (
        "cadence",
        grant.vendor_id,
        None,
    )
    assert campaign.deadline == today + timedelta(days=14)
    assert [c.access_request_id for c in campaign.certifications.all()] == [grant.pk]
    assert not Certification.objects.filter(access_request=recent).exists()  # approved now
    # Never a second open one for the same grant.
    assert services.campaigns_cadence(today=today) == []
    assert services.campaigns_cadence(today=today + timedelta(days=1)) == []


def test_a_kept_grant_is_due_again_only_after_its_interval(grant, engineer, security, settings):
    months = vendor_services.review_interval_months(grant.vendor.effective_tier)
    long_ago = timezone.now() - timedelta(days=31 * months + 5)
    Approval.objects.filter(access_request=grant).update(created_at=long_ago)
    [first] = services.campaigns_cadence()
    item = Certification.objects.get(campaign_id=first)
    answer(item, engineer, "owner", "keep")
    answer(item, security, "security", "keep")
    # Kept today: the old approval no longer makes it due.
    assert services.campaigns_cadence() == []
    Certification.objects.filter(pk=item.pk).update(decided_at=long_ago)
    assert len(services.campaigns_cadence()) == 1


def test_a_start_racing_another_for_the_same_grant_fails_whole(grant, security, monkeypatch):
    start(security, name="First")
    # As if the grant had been read before the first campaign committed.
    monkeypatch.setattr(
        services, "live_grants", lambda grant_filter: AccessRequest.objects.filter(pk=grant.pk)
    )
    with pytest.raises(ValidationError, match="meanwhile"):
        start(security, name="Second")
    assert list(Campaign.objects.values_list("name", flat=True)) == ["First"]
    assert Certification.objects.filter(access_request=grant).count() == 1


def test_no_answer_counts_after_the_deadline(grant, engineer, security):
    campaign = start(security)
    Campaign.objects.filter(pk=campaign.pk).update(
        deadline=timezone.localdate() - timedelta(days=1)
    )
    with pytest.raises(ValidationError, match="has passed"):
        answer(_item(campaign, grant), engineer, "owner", "keep")
    assert _item(campaign, grant).owner_decision == ""
    assert services.campaigns_sweep()["revoked"] == 1
    assert status(grant) == "revoked"
