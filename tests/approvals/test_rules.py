"""Approval rules as data: matching, quorum from every rule, the two-person change of the
rules, and the version each decision records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError

from accessportal.roles import Role
from approvals import decisions, policy, rules
from approvals.models import AccessRequest, ApprovalRuleSet, ExtensionApproval
from audit.models import AuditEvent
from audit.services import audit_verify
from inventory.models import AwsAccount
from tests.approvals.helpers import submitted

Status = AccessRequest.Status
RuleSetStatus = ApprovalRuleSet.Status


def facts(**overrides: Any) -> rules.Facts:
    base: dict[str, Any] = {
        "domains": frozenset({"payments"}),
        "environments": frozenset({"production"}),
        "qualities": frozenset({"default"}),
        "strategy": "role_per_account",
        "vendor_tier": "medium",
        "risk_level": "medium",
        "required_approvals": 1,
    }
    base.update(overrides)
    return rules.Facts(**base)


SECURITY_TEAM = rules.Rule(name="Security team", approver_group="security")
PAYMENTS_PRODUCTION = rules.Rule(
    name="Production payments",
    approver_group="security-payments",
    quorum=2,
    domains=("payments",),
    environments=("production",),
)
ADMINISTRATOR = rules.Rule(
    name="Administrator", approver_group="security-leads", quorum=2, strategies=("administrator",)
)


# --- Matching (pure) ----------------------------------------------------------------------------


def test_an_empty_condition_matches_and_a_set_one_must_touch_the_request():
    assert SECURITY_TEAM.applies_to(facts())
    assert PAYMENTS_PRODUCTION.applies_to(facts())
    assert not PAYMENTS_PRODUCTION.applies_to(facts(environments=frozenset({"staging"})))
    assert not PAYMENTS_PRODUCTION.applies_to(facts(domains=frozenset({"search"})))
    # A request reaching staging and production is a production request.
    assert PAYMENTS_PRODUCTION.applies_to(facts(environments=frozenset({"staging", "production"})))
    assert not ADMINISTRATOR.applies_to(facts())
    assert ADMINISTRATOR.applies_to(facts(strategy="administrator"))
    tiered = rules.Rule(name="t", approver_group="security", vendor_tiers=("critical",))
    assert tiered.applies_to(facts(vendor_tier="critical"))
    assert not tiered.applies_to(facts(vendor_tier="low"))
    risky = rules.Rule(name="r", approver_group="security", risk_levels=("high", "critical"))
    assert risky.applies_to(facts(risk_level="critical"))
    assert not risky.applies_to(facts(risk_level="medium"))


def test_every_applicable_rule_must_be_met():
    needed = rules.requirements_for([SECURITY_TEAM, PAYMENTS_PRODUCTION, ADMINISTRATOR], facts())
    assert [(r.group, r.quorum) for r in needed] == [("security", 1), ("security-payments", 2)]

    progress = rules.progress_of(needed, [("pia", ["security", "security-payments"])])
    assert [row.met for row in progress] == [True, False]
    assert not rules.all_met(progress)
    progress = rules.progress_of(
        needed,
        [("pia", ["security", "security-payments"]), ("paul", ["security", "security-payments"])],
    )
    assert rules.all_met(progress)


def test_the_most_specific_rule_sets_its_groups_quorum():
    strict_production = rules.Rule(
        name="Production", approver_group="security", quorum=2, environments=("production",)
    )
    relaxed_sandbox = rules.Rule(
        name="Sandbox", approver_group="security", quorum=1, environments=("sandbox",)
    )
    needed = rules.requirements_for([SECURITY_TEAM, strict_production, relaxed_sandbox], facts())
    assert [(r.group, r.quorum, r.rules) for r in needed] == [
        ("security", 2, ("Production", "Security team"))
    ]
    # Two equally specific rules for one group: the larger quorum.
    other = rules.Rule(name="Payments", approver_group="security", quorum=3, domains=("payments",))
    needed = rules.requirements_for([SECURITY_TEAM, strict_production, other], facts())
    assert [(r.group, r.quorum) for r in needed] == [("security", 3)]


def test_the_risk_quorum_is_a_floor_no_rule_lowers():
    one = rules.Rule(name="One", approver_group="security", quorum=1)
    needed = rules.requirements_for([one], facts(required_approvals=2))
    assert [(r.group, r.quorum) for r in needed] == [("security", 2)]
    assert "the quorum its risk sets" in needed[0].rules
    # A rule with no quorum of its own asks for the risk's.
    needed = rules.requirements_for([SECURITY_TEAM], facts(required_approvals=2))
    assert [(r.group, r.quorum) for r in needed] == [("security", 2)]
    # A group asked for two already covers the floor: no extra requirement.
    needed = rules.requirements_for([one, PAYMENTS_PRODUCTION], facts(required_approvals=2))
    assert [(r.group, r.quorum) for r in needed] == [("security", 1), ("security-payments", 2)]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ([], "at least one rule"),
        ([{"name": "A", "approver_group": "security", "domains": ["payments"]}], "without"),
        ([{"name": "A", "approver_group": "auditors"}], "cannot approve"),
        ([{"name": "A", "approver_group": "sec urity"}], "group's name"),
        # The SSO mapping's pattern: what SSO cannot give, a rule cannot name.
        ([{"name": "A", "approver_group": "-security"}], "group's name"),
        ([{"name": "A", "approver_group": "sec@urity"}], "group's name"),
        ([{"name": "A", "approver_group": "security", "quorum": 9}], "from 1 to 5"),
        ([{"name": "A", "approver_group": "security", "quorum": True}], "from 1 to 5"),
        ([{"name": "A", "approver_group": "security", "strategies": ["root"]}], "not one of"),
        ([{"name": "A", "approver_group": "security", "domains": ["a;b"]}], "is not a name"),
        ([{"name": "A", "approver_group": "security", "colour": "red"}], "Unknown rule fields"),
        ([{"name": "", "approver_group": "security"}], "needs a name"),
        (
            [
                {"name": "A", "approver_group": "security"},
                {"name": "a", "approver_group": "security-leads"},
            ],
            "same name",
        ),
    ],
)
def test_a_bad_rule_set_is_refused_with_a_reason(raw, words):
    with pytest.raises(ValidationError) as error:
        rules.rules_from_json(raw)
    assert words in " ".join(error.value.messages)


def test_a_rule_round_trips_through_json():
    assert rules.rules_from_json([r.as_dict() for r in (SECURITY_TEAM, ADMINISTRATOR)]) == (
        SECURITY_TEAM,
        ADMINISTRATOR,
    )


# --- Decisions under the rules (database) -------------------------------------------------------


@pytest.fixture
def production_payments(db):
    return AwsAccount.objects.create(
        account_id="210987654321",
        name="payments-production",
        account_type="service",
        domain="payments",
        environment="production",
        quality="default",
        status="active",
    )


@pytest.fixture
def team(make_user, security, security2):
    """Security: sam and sasha (plain), pia and paul (also security-payments)."""
    return {
        "sam": security,
        "sasha": security2,
        "pia": make_user("pia", Role.SECURITY, "security-payments"),
        "paul": make_user("paul", Role.SECURITY, "security-payments"),
        "lena": make_user("lena", Role.SECURITY, "security-leads"),
    }


def put_in_force(rule_list, team):
    """Proposes `rule_list` as sam and has sasha and lena approve it."""
    proposal = rules.rules_propose(
        actor=team["sam"],
        mfa_verified=True,
        rules=[r.as_dict() for r in rule_list],
        reason="Payments production needs its own team.",
    )
    for name in ("sasha", "lena"):
        rules.rules_vote(actor=team[name], mfa_verified=True, rule_set_id=proposal.pk, approve=True)
    proposal.refresh_from_db()
    assert proposal.status == RuleSetStatus.ACTIVE
    return proposal


def test_the_defaults_reproduce_the_portal_before_rules(reviewed_vendor, engineer, team, account):
    r = submitted(reviewed_vendor, engineer)
    assert r.reaches == {
        "domains": ["payments"],
        "environments": ["staging"],
        "qualities": ["alpha"],
    }
    standing = rules.request_standing(r)
    assert standing.rule_set.version == 1
    assert [(row.requirement.group, row.requirement.quorum) for row in standing.rows] == [
        ("security", 1)
    ]
    decisions.request_approve(request_id=r.pk, approver=team["sam"], mfa_verified=True)
    r.refresh_from_db()
    assert r.status == Status.APPROVED
    assert r.rules_version is not None
    assert r.rules_version.version == 1
    approval = r.approvals.get()
    assert (approval.rules_version_id, approval.counted_for) == (r.rules_version_id, ["security"])


def test_production_payments_needs_two_from_its_group(
    reviewed_vendor, engineer, team, production_payments
):
    in_force = put_in_force([SECURITY_TEAM, PAYMENTS_PRODUCTION], team)
    r = submitted(reviewed_vendor, engineer, environments=["production"])

    # sam is security but not security-payments: after his approval security is met, and the
    # page no longer offers sasha (plain security) a button her approval could not fill.
    assert policy.may_decide(team["sam"], r)
    decisions.request_approve(request_id=r.pk, approver=team["sam"], mfa_verified=True)
    r.refresh_from_db()
    assert r.status == Status.SUBMITTED
    verdict = policy.may_decide(team["sasha"], r)
    assert not verdict
    assert "security-payments" in verdict.reason
    with pytest.raises(ValidationError, match="security-payments"):
        decisions.request_approve(request_id=r.pk, approver=team["sasha"], mfa_verified=True)

    standing = rules.request_standing(r, with_candidates=True)
    payments = next(row for row in standing.rows if row.requirement.group == "security-payments")
    assert payments.can_still_approve == ["paul", "pia"]
    assert payments.missing == 2

    decisions.request_approve(request_id=r.pk, approver=team["pia"], mfa_verified=True)
    r.refresh_from_db()
    assert r.status == Status.SUBMITTED  # one of two from security-payments
    decisions.request_approve(request_id=r.pk, approver=team["paul"], mfa_verified=True)
    r.refresh_from_db()
    assert r.status == Status.APPROVED
    assert r.rules_version_id == in_force.pk
    event = AuditEvent.objects.filter(action="request.approve", object_id=str(r.pk)).get()
    assert event.after is not None
    assert event.after["rules_version"] == in_force.version
    assert {"group": "security-payments", "quorum": 2, "approvers": ["pia", "paul"]} in (
        event.after["requirements"]
    )


def test_a_staging_request_is_not_held_by_the_production_rule(
    reviewed_vendor, engineer, team, account
):
    put_in_force([SECURITY_TEAM, PAYMENTS_PRODUCTION], team)
    r = submitted(reviewed_vendor, engineer)
    decisions.request_approve(request_id=r.pk, approver=team["sasha"], mfa_verified=True)
    r.refresh_from_db()
    assert r.status == Status.APPROVED


def test_outside_every_group_one_may_not_decide_at_all(
    reviewed_vendor, engineer, team, production_payments, make_user
):
    only_payments = rules.Rule(name="Security team", approver_group="security-payments")
    put_in_force([only_payments], team)
    r = submitted(reviewed_vendor, engineer)
    for decide in (
        lambda: decisions.request_approve(request_id=r.pk, approver=team["sam"], mfa_verified=True),
        lambda: decisions.request_reject(
            request_id=r.pk, approver=team["sam"], mfa_verified=True, comment="No."
        ),
    ):
        with pytest.raises(PermissionDenied, match="security-payments"):
            decide()
    # A member of the group who is not on the security team is not an approver either.
    outsider = make_user("otto", "security-payments")
    assert rules.approver_groups(outsider) == frozenset()
    assert not policy.may_decide(outsider, r)


def test_a_rejection_records_the_rules_version(reviewed_vendor, engineer, team, account):
    r = submitted(reviewed_vendor, engineer)
    decisions.request_reject(
        request_id=r.pk, approver=team["sam"], mfa_verified=True, comment="Too broad."
    )
    r.refresh_from_db()
    assert r.status == Status.REJECTED
    assert r.rules_version == rules.active_rule_set()
    assert r.approvals.get().rules_version == r.rules_version


def test_an_extension_needs_what_the_grant_needs(
    reviewed_vendor, engineer, team, production_payments
):
    put_in_force([SECURITY_TEAM, PAYMENTS_PRODUCTION], team)
    r = submitted(reviewed_vendor, engineer, environments=["production"])
    for name in ("pia", "paul"):
        decisions.request_approve(request_id=r.pk, approver=team[name], mfa_verified=True)
    AccessRequest.objects.filter(pk=r.pk).update(status=Status.ACTIVE)
    r.refresh_from_db()
    assert r.expires_on is not None
    until = r.expires_on + timedelta(days=10)
    decisions.request_extension_ask(request_id=r.pk, actor=engineer, until=until, reason="More.")
    r.refresh_from_db()
    # sam met security's part of the grant; the extension asks for security-payments.
    verdict = policy.may_decide_extension(team["sam"], r)
    assert verdict.allowed  # nobody approved yet: security is open too
    decisions.request_extension_decide(
        request_id=r.pk, approver=team["pia"], approve=True, mfa_verified=True
    )
    with pytest.raises(ValidationError, match="security-payments"):
        decisions.request_extension_decide(
            request_id=r.pk, approver=team["sam"], approve=True, mfa_verified=True
        )
    r.refresh_from_db()
    assert r.expires_on != until
    decisions.request_extension_decide(
        request_id=r.pk, approver=team["paul"], approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    assert r.expires_on == until
    counted = ExtensionApproval.objects.filter(access_request=r).values_list(
        "counted_for", flat=True
    )
    assert list(counted) == [["security", "security-payments"]] * 2


# --- Changing the rules -------------------------------------------------------------------------


def test_a_change_of_rules_needs_two_other_approvers(team):
    proposal = rules.rules_propose(
        actor=team["sam"],
        mfa_verified=True,
        rules=[SECURITY_TEAM.as_dict(), ADMINISTRATOR.as_dict()],
        reason="Leads decide Administrator.",
    )
    assert proposal.status == RuleSetStatus.PROPOSED
    assert proposal.version == 2
    assert rules.active_rule_set().version == 1
    # Nobody approves their own change.
    with pytest.raises(PermissionDenied, match="You proposed this change"):
        rules.rules_vote(
            actor=team["sam"], mfa_verified=True, rule_set_id=proposal.pk, approve=True
        )
    rules.rules_vote(actor=team["sasha"], mfa_verified=True, rule_set_id=proposal.pk, approve=True)
    proposal.refresh_from_db()
    assert proposal.status == RuleSetStatus.PROPOSED  # one of two
    assert rules.active_rule_set().version == 1
    with pytest.raises(ValidationError, match="one person counts once"):
        rules.rules_vote(
            actor=team["sasha"], mfa_verified=True, rule_set_id=proposal.pk, approve=True
        )
    rules.rules_vote(actor=team["lena"], mfa_verified=True, rule_set_id=proposal.pk, approve=True)
    proposal.refresh_from_db()
    assert proposal.status == RuleSetStatus.ACTIVE
    assert rules.active_rule_set() == proposal
    assert ApprovalRuleSet.objects.get(version=1).status == RuleSetStatus.SUPERSEDED
    actions = list(
        AuditEvent.objects.filter(action__startswith="rules.").values_list("action", flat=True)
    )
    assert actions == ["rules.propose", "rules.approval_recorded", "rules.activate"]
    activate = AuditEvent.objects.get(action="rules.activate")
    assert activate.after is not None
    assert activate.after["approvers"] == ["sasha", "lena"]
    assert activate.after["replaces"] == 1
    propose = AuditEvent.objects.get(action="rules.propose")
    assert propose.after is not None
    assert propose.after["changes"] == [
        "Added Administrator: 2 from security-leads for strategies: administrator."
    ]
    assert audit_verify().ok


def test_a_change_of_rules_can_be_rejected_or_withdrawn(team):
    proposal = rules.rules_propose(
        actor=team["sam"],
        mfa_verified=True,
        rules=[SECURITY_TEAM.as_dict(), ADMINISTRATOR.as_dict()],
        reason="Leads decide Administrator.",
    )
    with pytest.raises(ValidationError, match="already waiting"):
        rules.rules_propose(
            actor=team["sasha"],
            mfa_verified=True,
            rules=[SECURITY_TEAM.as_dict(), PAYMENTS_PRODUCTION.as_dict()],
            reason="Another.",
        )
    with pytest.raises(ValidationError):
        rules.rules_vote(
            actor=team["sasha"], mfa_verified=True, rule_set_id=proposal.pk, approve=False
        )
    rules.rules_vote(
        actor=team["sasha"],
        mfa_verified=True,
        rule_set_id=proposal.pk,
        approve=False,
        comment="Leads are two people; one is away.",
    )
    proposal.refresh_from_db()
    assert proposal.status == RuleSetStatus.REJECTED
    assert rules.active_rule_set().version == 1

    second = rules.rules_propose(
        actor=team["sam"],
        mfa_verified=True,
        rules=[SECURITY_TEAM.as_dict(), PAYMENTS_PRODUCTION.as_dict()],
        reason="Payments.",
    )
    assert second.version == 3
    with pytest.raises(PermissionDenied):
        rules.rules_withdraw(actor=team["sasha"], mfa_verified=True, rule_set_id=second.pk)
    rules.rules_withdraw(actor=team["sam"], mfa_verified=True, rule_set_id=second.pk)
    second.refresh_from_db()
    assert second.status == RuleSetStatus.WITHDRAWN


def test_changing_the_rules_needs_security_with_a_second_factor(team, engineer):
    raw = [SECURITY_TEAM.as_dict(), ADMINISTRATOR.as_dict()]
    with pytest.raises(PermissionDenied):
        rules.rules_propose(actor=engineer, mfa_verified=True, rules=raw, reason="x")
    with pytest.raises(PermissionDenied, match="second factor"):
        rules.rules_propose(actor=team["sam"], mfa_verified=False, rules=raw, reason="x")
    with pytest.raises(ValidationError, match="in force already"):
        rules.rules_propose(
            actor=team["sam"], mfa_verified=True, rules=[SECURITY_TEAM.as_dict()], reason="x"
        )
    with pytest.raises(ValidationError):
        rules.rules_propose(actor=team["sam"], mfa_verified=True, rules=raw, reason=" ")


def test_one_rule_set_in_force_is_the_databases_rule_too(db):
    rules.active_rule_set()
    with pytest.raises(IntegrityError):
        ApprovalRuleSet.objects.create(version=9, rules=[], status=RuleSetStatus.ACTIVE)


def test_a_decision_keeps_the_version_it_was_taken_under(reviewed_vendor, engineer, team, account):
    r = submitted(reviewed_vendor, engineer)
    decisions.request_approve(request_id=r.pk, approver=team["sam"], mfa_verified=True)
    put_in_force([SECURITY_TEAM, ADMINISTRATOR], team)
    r.refresh_from_db()
    assert r.rules_version is not None
    assert r.rules_version.version == 1
    assert rules.active_rule_set().version == 2
