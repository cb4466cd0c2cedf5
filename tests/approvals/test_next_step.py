"""Where a request stands, its next step and who acts: every status of the state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from approvals import next_step
from approvals.models import TRANSITIONS, AccessRequest
from approvals.next_step import ADMIN, NOBODY, PORTAL, REQUESTER, SECURITY, Facts, standing

pytestmark = pytest.mark.pure

END = date(2027, 3, 31)


def test_every_status_of_the_state_machine_has_a_standing():
    assert set(next_step.STANDINGS) == set(TRANSITIONS) == set(AccessRequest.Status.values)


def test_a_draft_waits_for_its_requester():
    lead = standing(Facts(status="draft", requester="erin"))
    assert (lead.who, lead.who_detail, lead.tone) == (REQUESTER, "erin", "act")
    assert "submit" in lead.next


def test_a_submitted_request_waits_for_security_and_names_who_may_approve():
    lead = standing(
        Facts(
            status="submitted",
            approvals=1,
            required_approvals=2,
            missing=1,
            candidates=("sam", "sue"),
        )
    )
    assert lead.who == SECURITY
    assert lead.who_detail == "sam, sue"
    assert "1 of 2 approvals" in lead.where
    assert lead.next.startswith("One more")


def test_a_submitted_request_counts_the_missing_approvals_without_the_rules():
    lead = standing(Facts(status="submitted", approvals=0, required_approvals=2))
    assert "2 more security members" in lead.next


def test_a_blocked_submission_is_the_requesters_to_clear():
    lead = standing(Facts(status="submitted", requester="erin", blocked=True))
    assert (lead.who, lead.who_detail) == (REQUESTER, "erin")
    assert "blocks" in lead.next


@pytest.mark.parametrize("status", ["approved", "provisioning"])
def test_an_approved_request_waits_for_the_portal(status):
    lead = standing(Facts(status=status))
    assert (lead.who, lead.tone) == (PORTAL, "wait")
    assert "pull request" in lead.next


def test_an_open_pull_request_is_for_security_to_merge_and_named_as_a_pull_request():
    lead = standing(Facts(status="pr_open", grant_pr_number=7))
    assert lead.who == SECURITY
    assert "pull request #7" in lead.where
    assert "merge pull request #7" in lead.next.lower()
    assert "nothing is granted in AWS yet" in lead.where


def test_a_failed_fulfilment_is_for_security_to_retry():
    lead = standing(Facts(status="failed"))
    assert (lead.who, lead.tone) == (SECURITY, "bad")
    assert "retry" in lead.next


def test_a_merged_unapproved_head_is_for_security_to_review():
    lead = standing(Facts(status="merge_mismatch"))
    assert (lead.who, lead.tone) == (SECURITY, "bad")
    assert "not active" in lead.where


def test_an_active_grant_needs_nobody_and_says_when_it_ends():
    lead = standing(Facts(status="active", expires_on=END))
    assert (lead.who, lead.tone) == (NOBODY, "ok")
    assert "2027-03-31" in lead.where


def test_an_active_grant_with_commands_to_run_waits_for_an_administrator():
    lead = standing(Facts(status="active", grant_commands_pending=True))
    assert lead.who == ADMIN
    assert "commands" in lead.next


def test_an_extension_asked_is_for_security_to_decide():
    lead = standing(Facts(status="active", extension_until=date(2027, 6, 30)))
    assert lead.who == SECURITY
    assert "2027-06-30" in lead.next


def test_an_expiring_grant_is_the_requesters_to_extend():
    lead = standing(Facts(status="expiring", requester="erin", expires_on=END))
    assert (lead.who, lead.who_detail) == (REQUESTER, "erin")
    assert "extension" in lead.next
    assert "2027-03-31" in lead.where


@pytest.mark.parametrize(
    ("state", "number", "pending", "who", "words"),
    [
        ("", None, False, PORTAL, "preparing"),
        ("pending", None, False, PORTAL, "preparing"),
        ("open", 9, False, SECURITY, "pull request #9"),
        ("failed", 9, False, SECURITY, "did not go through"),
        ("closed", 9, False, SECURITY, "did not go through"),
        ("merged", 9, True, ADMIN, "merged"),
        ("merged", 9, False, NOBODY, "removed"),
    ],
)
def test_a_revoked_request_follows_its_revocation(state, number, pending, who, words):
    lead = standing(
        Facts(
            status="revoked",
            revoke_pr_state=state,
            revoke_pr_number=number,
            revoke_commands_pending=pending,
        )
    )
    assert lead.who == who
    assert words in lead.where


@pytest.mark.parametrize(
    ("status", "words"),
    [("rejected", "Rejected"), ("withdrawn", "Withdrawn"), ("lapsed", "Lapsed")],
)
def test_a_closed_request_needs_nobody(status, words):
    lead = standing(Facts(status=status))
    assert (lead.who, lead.tone) == (NOBODY, "end")
    assert lead.where.startswith(words)
    assert "nothing was granted" in lead.where
    assert "closed" in lead.next


@pytest.mark.parametrize(
    ("status", "merged", "heading"),
    [
        ("draft", False, "The change it will make"),
        ("submitted", False, "The change it will make"),
        ("approved", False, "The change it will make"),
        ("provisioning", False, "The change it will make"),
        ("pr_open", False, "The change it will make"),
        ("failed", False, "The change it will make"),
        ("merge_mismatch", True, "The change it made"),
        ("active", True, "The change it made"),
        ("expiring", True, "The change it made"),
        ("revoked", True, "The change it made"),
        ("revoked", False, "The change it would have made"),
        ("rejected", False, "The change it would have made"),
        ("withdrawn", False, "The change it would have made"),
        ("lapsed", False, "The change it would have made"),
    ],
)
def test_the_change_heading_stays_true(status, merged, heading):
    assert next_step.change_heading(status, merged) == heading


def test_a_closed_request_offers_no_grant_commands():
    offered = {s for s in AccessRequest.Status.values if next_step.offers_grant_commands(s)}
    assert offered.isdisjoint({"revoked", "rejected", "withdrawn", "lapsed"})
    assert {"active", "expiring", "pr_open"} <= offered


def test_timeline_steps_name_the_actions_and_the_status_they_moved_to():
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    events = [
        SimpleNamespace(
            action="request.create",
            actor_username="erin",
            created_at=when,
            before=None,
            after={"status": "draft"},
        ),
        SimpleNamespace(
            action="request.approve",
            actor_username="",
            created_at=when,
            before={"status": "submitted"},
            after={"status": "approved"},
        ),
        SimpleNamespace(
            action="request.something_new",
            actor_username="sam",
            created_at=when,
            before=None,
            after=None,
        ),
    ]
    steps = next_step.timeline_steps(events, {"approved": "Approved"})
    assert [s.label for s in steps] == ["Filed as a draft", "Approved", "request.something_new"]
    assert [s.status for s in steps] == ["", "Approved", ""]
    assert steps[1].who == "the portal"
    assert steps[1].tone == "ok"


@pytest.mark.parametrize("status", ["active", "revoked"])
def test_a_merge_of_an_unapproved_head_is_for_security_to_review_first(status):
    lead = standing(Facts(status=status, revoke_pr_state="merged", head_review_pending=True))
    assert (lead.who, lead.tone) == (SECURITY, "bad")
    assert "Review what was merged" in lead.next
