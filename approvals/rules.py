"""Approval rules as data: which group of approvers decides what, and how many must agree.

A rule names an approver group (a Django group: `security`, or one SSO fills, such as
`security-payments`), a quorum, and conditions on what a request reaches: its accounts'
domains, environments and qualities, its strategy, its vendor's tier and its risk. A condition
left empty matches every request. Every rule that applies must be met; when several applicable
rules name the same group, the most specific (the most conditions set) sets that group's
quorum, so "two from security for production" can tighten "one from security" without a
second, separate count. An approval counts toward every rule whose group the approver is in.

Whatever the rules say, no request is approved by fewer people than its risk asks
(`AccessRequest.required_approvals`, DESIGN.md section 5): the rules add approvers, never
remove the floor. The first version reproduces the portal before rules existed: the security
team decides, with the quorum its risk sets.

The rules are versioned (`ApprovalRuleSet`). A change is a proposed new version that two other
security members must approve before it is in force (`rules_propose`, `rules_vote`); every
version is kept, audited, and named by each decision taken under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal import lifecycle
from accessportal.config import GROUP_NAME
from accessportal.roles import Role, require_verified_security
from approvals.models import (
    RULE_SET_LIFECYCLE,
    AccessRequest,
    ApprovalRuleSet,
    ExtensionApproval,
    RuleSetVote,
    Strategy,
)
from approvals.verdicts import ALLOWED, Verdict, denied, invalid
from audit.services import audit_record
from inventory.models import AwsAccount
from vendors.models import Tier

RISK_LEVELS = tuple(AccessRequest.Risk.values)
# Groups that are roles but cannot approve: auditors change nothing, every user requests.
NOT_APPROVER_GROUPS = frozenset({Role.AUDITORS.value, Role.REQUESTERS.value})
MAX_RULES = 50
MAX_QUORUM = 5
MAX_VALUES = 50
VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The conditions a rule may set, with the values each may take (None: any inventory name).
CONDITIONS: dict[str, tuple[str, ...] | None] = {
    "domains": None,
    "environments": None,
    "qualities": None,
    "strategies": tuple(Strategy.values),
    "vendor_tiers": tuple(Tier.values),
    "risk_levels": RISK_LEVELS,
}
RuleSetStatus = ApprovalRuleSet.Status


@dataclass(frozen=True)
class Rule:
    """One rule: `quorum` approvals from `approver_group` for the requests it matches.

    `quorum` None means "as many as the request's risk asks" (`required_approvals`)."""

    name: str
    approver_group: str
    quorum: int | None = None
    domains: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    vendor_tiers: tuple[str, ...] = ()
    risk_levels: tuple[str, ...] = ()

    @property
    def specificity(self) -> int:
        return sum(1 for name in CONDITIONS if getattr(self, name))

    def applies_to(self, facts: Facts) -> bool:
        def touches(wanted: tuple[str, ...], reached: frozenset[str]) -> bool:
            return not wanted or bool(reached.intersection(wanted))

        return (
            touches(self.domains, facts.domains)
            and touches(self.environments, facts.environments)
            and touches(self.qualities, facts.qualities)
            and (not self.strategies or facts.strategy in self.strategies)
            and (not self.vendor_tiers or facts.vendor_tier in self.vendor_tiers)
            and (not self.risk_levels or facts.risk_level in self.risk_levels)
        )

    def conditions_text(self) -> str:
        """The conditions as a reader says them ("environments: production; strategies: ...")."""
        parts = [
            f"{name.replace('_', ' ')}: {', '.join(getattr(self, name))}"
            for name in CONDITIONS
            if getattr(self, name)
        ]
        return "; ".join(parts) or _("every request")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in CONDITIONS:
            data[name] = list(data[name])
        return data


DEFAULT_RULES: tuple[Rule, ...] = (Rule(name="Security team", approver_group=Role.SECURITY.value),)


@dataclass(frozen=True)
class Facts:
    """What the rules match of one request."""

    domains: frozenset[str]
    environments: frozenset[str]
    qualities: frozenset[str]
    strategy: str
    vendor_tier: str
    risk_level: str
    required_approvals: int


@dataclass(frozen=True)
class Requirement:
    """What one approver group must give: `quorum` approvals, under `rules` (most specific
    first: the first set the quorum)."""

    group: str
    quorum: int
    rules: tuple[str, ...]


@dataclass
class Progress:
    """How far a request (or an extension ask) is toward every requirement."""

    requirement: Requirement
    approvers: list[str] = field(default_factory=list)  # usernames counted, in order
    can_still_approve: list[str] = field(default_factory=list)  # usernames

    @property
    def met(self) -> bool:
        return len(self.approvers) >= self.requirement.quorum

    @property
    def missing(self) -> int:
        return max(self.requirement.quorum - len(self.approvers), 0)


# --- Reading and checking a rule set ------------------------------------------------------------


def _text(value: Any, label: str, *, limit: int = 80) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_("Each rule needs %(label)s.") % {"label": label})
    text = " ".join(value.split())
    if len(text) > limit or any(ord(c) < 32 for c in text):
        raise ValidationError(
            _("%(label)s is at most %(n)s printable characters.") % {"label": label, "n": limit}
        )
    return text


def _values(name: str, raw: Any, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list | tuple) or len(raw) > MAX_VALUES:
        raise ValidationError(
            _("%(name)s must be a list of at most %(n)s names.") % {"name": name, "n": MAX_VALUES}
        )
    values = []
    for item in raw:
        if not isinstance(item, str) or not VALUE.match(item.strip()):
            raise ValidationError(
                _("%(name)s: %(value)r is not a name (letters, digits, dot, dash, underscore).")
                % {"name": name.replace("_", " "), "value": str(item)[:40]}
            )
        item = item.strip()
        if allowed is not None and item not in allowed:
            raise ValidationError(
                _("%(name)s: %(value)s is not one of %(allowed)s.")
                % {"name": name.replace("_", " "), "value": item, "allowed": ", ".join(allowed)}
            )
        values.append(item)
    return tuple(sorted(set(values)))


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """One rule from its JSON, checked; ValidationError says what is wrong in words."""
    if not isinstance(data, Mapping):
        raise ValidationError(_("Each rule is an object."))
    unknown = set(data) - {"name", "approver_group", "quorum", *CONDITIONS}
    if unknown:
        raise ValidationError(_("Unknown rule fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    name = _text(data.get("name"), _("a name"))
    group = data.get("approver_group")
    # The SSO mapping's pattern: a name safe in a page, an audit row and a log line.
    if not isinstance(group, str) or not GROUP_NAME.fullmatch(group):
        raise ValidationError(
            _("Rule %(rule)s: the approver group must be a group's name.") % {"rule": name}
        )
    if group in NOT_APPROVER_GROUPS:
        raise ValidationError(
            _("Rule %(rule)s: %(group)s cannot approve requests.") % {"rule": name, "group": group}
        )
    quorum = data.get("quorum")
    if quorum in (None, ""):
        quorum = None
    elif isinstance(quorum, bool) or not isinstance(quorum, int) or not 1 <= quorum <= MAX_QUORUM:
        raise ValidationError(
            _("Rule %(rule)s: the quorum is a number from 1 to %(n)s, or empty for the risk's.")
            % {"rule": name, "n": MAX_QUORUM}
        )
    conditions = {key: _values(key, data.get(key), allowed) for key, allowed in CONDITIONS.items()}
    return Rule(name=name, approver_group=group, quorum=quorum, **conditions)


def rules_from_json(raw: Any) -> tuple[Rule, ...]:
    """A whole rule set, checked: names unique, and one rule that applies to every request
    (otherwise a request could match none, and nobody could decide it)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError(_("A rule set is a list of at least one rule."))
    if len(raw) > MAX_RULES:
        raise ValidationError(_("A rule set has at most %(n)s rules.") % {"n": MAX_RULES})
    rules = tuple(rule_from_dict(item) for item in raw)
    names = [r.name.lower() for r in rules]
    if len(set(names)) != len(names):
        raise ValidationError(_("Two rules have the same name: give each its own."))
    if not any(r.specificity == 0 for r in rules):
        raise ValidationError(
            _(
                "Keep one rule without conditions: it decides every request no other rule "
                "matches, so that no request is left without approvers."
            )
        )
    return rules


def rules_of(rule_set: ApprovalRuleSet) -> tuple[Rule, ...]:
    return rules_from_json(rule_set.rules)


def active_rule_set() -> ApprovalRuleSet:
    """The rules in force; the defaults (version 1) when none was ever saved."""
    current = ApprovalRuleSet.objects.filter(status=RuleSetStatus.ACTIVE).first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            return ApprovalRuleSet.objects.create(
                version=1,
                rules=[r.as_dict() for r in DEFAULT_RULES],
                status=RuleSetStatus.ACTIVE,
                reason="The defaults: the security team decides, with the quorum risk sets.",
            )
    except IntegrityError:  # another process made it first
        return ApprovalRuleSet.objects.get(status=RuleSetStatus.ACTIVE)


# --- Matching ------------------------------------------------------------------------------------


def reaches_of_accounts(accounts: Iterable[AwsAccount]) -> dict[str, list[str]]:
    """The `AccessRequest.reaches` of a list of accounts."""
    accounts = list(accounts)
    return {
        "domains": sorted({a.domain for a in accounts if a.domain}),
        "environments": sorted({a.environment for a in accounts if a.environment}),
        "qualities": sorted({a.quality for a in accounts if a.quality}),
    }


def facts_of(access_request: AccessRequest) -> Facts:
    reaches = access_request.reaches or {}
    return Facts(
        domains=frozenset(reaches.get("domains", ()))
        | frozenset(d for d in access_request.target_domains if d != "*"),
        environments=frozenset(reaches.get("environments", ()))
        | frozenset(e for e in access_request.target_environments if e != "*"),
        qualities=frozenset(reaches.get("qualities", ()))
        | frozenset(q for q in access_request.target_qualities if q != "*"),
        strategy=access_request.strategy,
        vendor_tier=access_request.vendor.effective_tier,
        risk_level=access_request.risk_level,
        required_approvals=access_request.required_approvals,
    )


def requirements_for(rules: Sequence[Rule], facts: Facts) -> list[Requirement]:
    """What the rules ask of a request: one requirement per approver group, ordered by group.

    Per group the most specific applicable rules set the quorum (the largest of theirs on a
    tie); a rule without a quorum asks for the risk's. Then the risk's floor: if no group is
    asked for as many approvals as the risk needs, the security team is."""
    by_group: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.applies_to(facts):
            by_group.setdefault(rule.approver_group, []).append(rule)
    requirements: dict[str, Requirement] = {}
    for group, matched in by_group.items():
        matched.sort(key=lambda r: (-r.specificity, r.name))
        top = matched[0].specificity
        quorum = max(r.quorum or facts.required_approvals for r in matched if r.specificity == top)
        requirements[group] = Requirement(group, quorum, tuple(r.name for r in matched))
    floor = facts.required_approvals
    if not any(req.quorum >= floor for req in requirements.values()):
        security = requirements.get(Role.SECURITY.value)
        requirements[Role.SECURITY.value] = Requirement(
            Role.SECURITY.value,
            floor,
            (*(security.rules if security else ()), _("the quorum its risk sets")),
        )
    return [requirements[g] for g in sorted(requirements)]


def approver_groups(user: Any) -> frozenset[str]:
    """The groups `user` approves for: their groups, if they are an active security member.

    Cached on the user object for the request, like the roles."""
    cached: frozenset[str] | None = getattr(user, "_approver_groups", None)
    if cached is None:
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            cached = frozenset()
        else:
            names = frozenset(user.groups.values_list("name", flat=True))
            cached = names - NOT_APPROVER_GROUPS if Role.SECURITY.value in names else frozenset()
        setattr(user, "_approver_groups", cached)  # noqa: B010 - a per-request cache
    return cached


def progress_of(
    requirements: Sequence[Requirement],
    counted: Sequence[tuple[str, Iterable[str]]],
    *,
    candidates: Mapping[str, Iterable[str]] | None = None,
) -> list[Progress]:
    """Each requirement's approvals: `counted` is (username, groups it counted for) per
    approval, oldest first; `candidates` are the usernames who may still approve, per group."""
    result = []
    for requirement in requirements:
        row = Progress(requirement)
        row.approvers = [name for name, groups in counted if requirement.group in set(groups)]
        if candidates is not None and not row.met:
            row.can_still_approve = sorted(set(candidates.get(requirement.group, ())))
        result.append(row)
    return result


def all_met(rows: Sequence[Progress]) -> bool:
    return all(row.met for row in rows)


def group_members(groups: Iterable[str], *, exclude: Iterable[int] = ()) -> dict[str, list[str]]:
    """The active security members of each group, by username (one query)."""
    groups = list(groups)
    if not groups:
        return {}
    security = (
        get_user_model()
        .objects.filter(is_active=True, groups__name=Role.SECURITY.value)
        .values_list("pk", flat=True)
    )
    rows = (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=groups, pk__in=security)
        .exclude(pk__in=list(exclude))
        .values_list("username", "groups__name")
    )
    members: dict[str, list[str]] = {}
    for username, group in rows:
        if group in groups:
            members.setdefault(group, []).append(username)
    return members


@dataclass
class Standing:
    """Where a request (or its extension ask) stands under the rules in force."""

    rule_set: ApprovalRuleSet
    rows: list[Progress]

    @property
    def met(self) -> bool:
        return all_met(self.rows)

    def open_groups(self) -> frozenset[str]:
        return frozenset(row.requirement.group for row in self.rows if not row.met)

    def groups(self) -> frozenset[str]:
        return frozenset(row.requirement.group for row in self.rows)

    def with_approval(self, username: str, groups: Iterable[str]) -> Standing:
        """Where the decision stands once `username`'s approval, counting for `groups`, is
        added: under the same version of the rules, without reading them again."""
        counted = set(groups)
        return Standing(
            self.rule_set,
            [
                Progress(
                    row.requirement,
                    [*row.approvers, username]
                    if row.requirement.group in counted
                    else row.approvers,
                )
                for row in self.rows
            ],
        )

    def total_approvals(self) -> int:
        return max((row.requirement.quorum for row in self.rows), default=0)


def standing_of(
    access_request: AccessRequest,
    counted: Sequence[tuple[str, Iterable[str]]],
    *,
    deciders: Iterable[int] = (),
    rule_set: ApprovalRuleSet | None = None,
    with_candidates: bool = False,
) -> Standing:
    """The request's requirements under the rules in force and how far `counted` goes.

    With `with_candidates`, each unmet requirement lists who may still approve (not the
    requester, nor anyone in `deciders`, who decided already): one more query."""
    rule_set = rule_set or active_rule_set()
    requirements = requirements_for(rules_of(rule_set), facts_of(access_request))
    candidates = None
    if with_candidates:
        candidates = group_members(
            [r.group for r in requirements],
            exclude=[access_request.requester_id, *deciders],
        )
    return Standing(rule_set, progress_of(requirements, counted, candidates=candidates))


def request_standing(access_request: AccessRequest, *, with_candidates: bool = False) -> Standing:
    """The request's own decision: its approvals so far against the rules in force."""
    decisions = list(access_request.approvals.select_related("approver").order_by("created_at"))
    return standing_of(
        access_request,
        [(a.approver.get_username(), a.counted_for) for a in decisions if a.decision == "approve"],
        deciders=[a.approver_id for a in decisions],
        with_candidates=with_candidates,
    )


def extension_standing(access_request: AccessRequest, *, with_candidates: bool = False) -> Standing:
    """The pending extension ask: its round's approvals against the rules in force (an
    extension lengthens the grant as it stands, so it needs what the grant needed)."""
    approvals = list(
        ExtensionApproval.objects.filter(
            access_request=access_request, extension_round=access_request.extension_round
        )
        .select_related("approver")
        .order_by("created_at")
    )
    return standing_of(
        access_request,
        [(a.approver.get_username(), a.counted_for) for a in approvals],
        deciders=[a.approver_id for a in approvals],
        with_candidates=with_candidates,
    )


def counts_for(user: Any, standing: Standing) -> list[str]:
    """The groups an approval by `user` would count toward (sorted)."""
    return sorted(approver_groups(user) & standing.groups())


# --- Changing the rules: a request of its own, decided by two others ---------------------------


def _said(key: str, value: Any) -> str:
    """A rule's field as the change's sentence says it."""
    if key == "quorum" and value is None:
        return _("as risk asks")
    if isinstance(value, list):
        return ", ".join(value) or _("any")
    return str(value)


def rule_set_diff(before: Sequence[Rule], after: Sequence[Rule]) -> list[str]:
    """The change as sentences: rules added, removed, and changed (by name)."""
    old = {r.name: r for r in before}
    new = {r.name: r for r in after}
    lines = []
    for name in sorted(new.keys() - old.keys()):
        r = new[name]
        lines.append(
            _("Added %(name)s: %(q)s from %(group)s for %(what)s.")
            % {
                "name": name,
                "q": r.quorum or _("as many as risk asks"),
                "group": r.approver_group,
                "what": r.conditions_text(),
            }
        )
    for name in sorted(old.keys() - new.keys()):
        lines.append(_("Removed %(name)s.") % {"name": name})
    for name in sorted(old.keys() & new.keys()):
        a, b = old[name].as_dict(), new[name].as_dict()
        changed = [
            f"{key.replace('_', ' ')} {_said(key, a[key])} -> {_said(key, b[key])}"
            for key in a
            if a[key] != b[key]
        ]
        if changed:
            lines.append(
                _("Changed %(name)s: %(what)s.") % {"name": name, "what": "; ".join(changed)}
            )
    return lines


def _audited(
    proposal: ApprovalRuleSet, *, actor: Any, action: str, **after: Any
) -> Callable[[str, str], None]:
    """The `on_change` of a move of `proposal`: one audit row with the status and `after`."""

    def record(before: str, to: str) -> None:
        audit_record(
            actor=actor,
            action=action,
            obj=proposal,
            before={"status": before},
            after={"status": to, "version": proposal.version, **after},
        )

    return record


def _check_security(actor: Any, mfa_verified: bool) -> None:
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team changes the approval rules."),
    )


@transaction.atomic
def rules_propose(
    *, actor: Any, mfa_verified: bool, rules: list[dict[str, Any]], reason: str
) -> ApprovalRuleSet:
    """Proposes a new version of the rules; it is in force once two others approve it."""
    _check_security(actor, mfa_verified)
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the rules should change.")})
    checked = rules_from_json(rules)
    current = ApprovalRuleSet.objects.select_for_update().get(pk=active_rule_set().pk)
    if not rule_set_diff(rules_of(current), checked):
        raise ValidationError(_("These are the rules in force already: nothing to propose."))
    if ApprovalRuleSet.objects.filter(status=RuleSetStatus.PROPOSED).exists():
        raise ValidationError(
            _("A change of the rules is already waiting for approval: decide or withdraw it first.")
        )
    latest = ApprovalRuleSet.objects.order_by("-version").values_list("version", flat=True)[0]
    try:
        with transaction.atomic():
            proposal = ApprovalRuleSet.objects.create(
                version=latest + 1,
                rules=[r.as_dict() for r in checked],
                status=RuleSetStatus.PROPOSED,
                based_on=current,
                proposed_by=actor,
                reason=reason.strip(),
            )
    except IntegrityError as exc:  # a proposal made at the same moment
        raise ValidationError(_("A change of the rules is already waiting for approval.")) from exc
    audit_record(
        actor=actor,
        action="rules.propose",
        obj=proposal,
        before={"version": current.version, "rules": current.rules},
        after={
            "version": proposal.version,
            "rules": proposal.rules,
            "changes": rule_set_diff(rules_of(current), checked),
            "reason": proposal.reason,
        },
    )
    return proposal


def may_vote(user: Any, proposal: ApprovalRuleSet) -> Verdict:
    """Whether `user` may decide `proposal` (security's gate comes first): never the
    proposer, a person once, and only a proposal still open."""
    if proposal.status != RuleSetStatus.PROPOSED:
        return invalid(
            _("This version is %(s)s: there is nothing to decide.")
            % {"s": str(proposal.get_status_display()).lower()}
        )
    if user.pk == proposal.proposed_by_id:
        return denied(
            _("You proposed this change: two other members of the security team decide it.")
        )
    if proposal.votes.filter(voter=user.pk).exists():
        return invalid(_("You already decided this change; one person counts once."))
    return ALLOWED


@transaction.atomic
def rules_vote(
    *, actor: Any, mfa_verified: bool, rule_set_id: int, approve: bool, comment: str = ""
) -> ApprovalRuleSet:
    """Approves or rejects a proposed version. The second approval puts it in force, in place
    of the version it was based on; one rejection (with a reason) ends it."""
    _check_security(actor, mfa_verified)
    proposal = ApprovalRuleSet.objects.select_for_update().get(pk=rule_set_id)
    may_vote(actor, proposal).enforce()
    if not approve and not comment.strip():
        raise ValidationError({"comment": _("Say why the change is rejected.")})
    try:
        with transaction.atomic():
            RuleSetVote.objects.create(
                rule_set=proposal,
                voter=actor,
                decision=RuleSetVote.Decision.APPROVE if approve else RuleSetVote.Decision.REJECT,
                comment=comment.strip(),
                mfa_verified=mfa_verified,
            )
    except IntegrityError as exc:
        raise ValidationError(_("You already decided this change.")) from exc
    approvals = proposal.votes.filter(decision=RuleSetVote.Decision.APPROVE).count()
    needed = settings.PORTAL_RULE_CHANGE_APPROVALS
    if approve and approvals < needed:
        audit_record(
            actor=actor,
            action="rules.approval_recorded",
            obj=proposal,
            after={"version": proposal.version, "approvals": approvals, "required": needed},
        )
        return proposal
    proposal.decided_at = timezone.now()
    if not approve:
        lifecycle.transition(
            proposal,
            RULE_SET_LIFECYCLE,
            to=RuleSetStatus.REJECTED,
            extra_fields=("decided_at",),
            on_change=_audited(
                proposal, actor=actor, action="rules.reject", comment=comment.strip()
            ),
        )
        return proposal
    current = ApprovalRuleSet.objects.select_for_update().get(status=RuleSetStatus.ACTIVE)
    if proposal.based_on_id != current.pk:  # cannot happen with one proposal at a time
        raise ValidationError(_("The rules changed since this was proposed: propose it again."))
    current.decided_at = proposal.decided_at
    lifecycle.transition(
        current, RULE_SET_LIFECYCLE, to=RuleSetStatus.SUPERSEDED, extra_fields=("decided_at",)
    )
    lifecycle.transition(
        proposal,
        RULE_SET_LIFECYCLE,
        to=RuleSetStatus.ACTIVE,
        extra_fields=("decided_at",),
        on_change=_audited(
            proposal,
            actor=actor,
            action="rules.activate",
            replaces=current.version,
            approvers=list(
                proposal.votes.filter(decision=RuleSetVote.Decision.APPROVE).values_list(
                    "voter__username", flat=True
                )
            ),
        ),
    )
    return proposal


@transaction.atomic
def rules_withdraw(*, actor: Any, mfa_verified: bool, rule_set_id: int) -> ApprovalRuleSet:
    """The proposer takes their proposal back (a security write like the others: MFA)."""
    _check_security(actor, mfa_verified)
    proposal = ApprovalRuleSet.objects.select_for_update().get(pk=rule_set_id)
    if proposal.proposed_by_id != actor.pk:
        raise PermissionDenied(_("Only who proposed a change withdraws it."))
    lifecycle.transition(
        proposal,
        RULE_SET_LIFECYCLE,
        to=RuleSetStatus.WITHDRAWN,
        on_change=_audited(proposal, actor=actor, action="rules.withdraw"),
    )
    return proposal
