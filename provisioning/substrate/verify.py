"""Hold what a reader saw in IAM against what an approved grant should have put there.

Policies are compared by meaning, not text: IAM rewrites an account id into its root ARN,
turns one-element lists into strings, and the Terraform provider renders its own shape. So
each statement is flattened into atoms (effect, principal, action, resource, condition),
with Sid and statement order ignored, and the two sets of atoms are compared. Every
difference is a sentence a security reviewer can act on, sorted so the verdict is stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import names
from .errors import GrantError
from .expected import Expected, ExpectedAbsentRole, ExpectedRole, ExpectedState, ExpectedUser
from .observed import AccountUnreadable, ObservedRole, ObservedUser


class State(StrEnum):
    MATCHES = "matches"
    DIFFERS = "differs"
    ABSENT = "absent"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class AccountVerdict:
    account_id: str
    state: State
    differences: tuple[str, ...] = ()
    reason: str = ""  # AccountUnreadable.reason
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    accounts: tuple[AccountVerdict, ...]

    @property
    def state(self) -> State:
        """matches/absent only when every account says so; unreadable wins over differs,
        because a drift elsewhere is still reported per account."""
        states = {a.state for a in self.accounts}
        if not states:
            return State.ABSENT
        if len(states) == 1:
            return next(iter(states))
        if State.DIFFERS in states:
            return State.DIFFERS
        if State.UNREADABLE in states:
            return State.UNREADABLE
        return State.DIFFERS  # some accounts match, others hold nothing: half applied

    def account(self, account_id: str) -> AccountVerdict:
        return next(a for a in self.accounts if a.account_id == account_id)


# -- normalisation ---------------------------------------------------------------------------


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal(kind: str, value: str) -> str:
    if kind != "AWS" or value == "*":
        return value if kind == "AWS" else f"{kind}:{value}"
    try:
        canonical = names.canonical_principal(value)
    except GrantError:
        return value  # e.g. the AROA id IAM shows for a deleted principal: not ours
    return f"arn:aws:iam::{canonical}:root" if canonical.isdigit() else canonical


def _principals(value: Any) -> list[str]:
    if value == "*":
        return ["*"]
    if not isinstance(value, dict):
        return [str(v) for v in _listify(value)]
    return sorted(
        _principal(kind, str(v)) for kind, values in value.items() for v in _listify(values)
    )


Condition = tuple[tuple[str, str, tuple[str, ...]], ...]


def _condition(value: Any) -> Condition:
    if not isinstance(value, dict):
        return ()
    return tuple(
        sorted(
            (op, key, tuple(sorted(str(v) for v in _listify(vals))))
            for op, keys in value.items()
            if isinstance(keys, dict)
            for key, vals in keys.items()
        )
    )


@dataclass(frozen=True, order=True)
class Atom:
    effect: str
    principal: str  # "" in permission policies
    action: str  # lower-cased: IAM actions are case-insensitive; "!" prefix for NotAction
    resource: str  # "" in trust policies; "!" prefix for NotResource
    condition: Condition


def _head(atom: Atom) -> tuple[str, str, str]:
    return (atom.effect, atom.principal, atom.action)


def atoms(document: dict[str, Any] | None) -> frozenset[Atom]:
    if not document:
        return frozenset()
    found: set[Atom] = set()
    for st in _listify(document.get("Statement")):
        if not isinstance(st, dict):
            continue
        effect = str(st.get("Effect", ""))
        if "NotPrincipal" in st:
            principals = ["!" + p for p in _principals(st["NotPrincipal"])]
        else:
            principals = _principals(st.get("Principal")) or [""]
        if "NotAction" in st:
            actions = ["!" + str(a).lower() for a in _listify(st["NotAction"])]
        else:
            actions = [str(a).lower() for a in _listify(st.get("Action"))]
        if "NotResource" in st:
            resources = ["!" + str(r) for r in _listify(st["NotResource"])]
        else:
            resources = [str(r) for r in _listify(st.get("Resource"))] or [""]
        condition = _condition(st.get("Condition"))
        for p in principals:
            for a in actions:
                for r in resources:
                    found.add(Atom(effect, p, a, r, condition))
    return frozenset(found)


# -- differences -----------------------------------------------------------------------------

_EXTERNAL_ID = "sts:externalid"


def _external_ids(atom: Atom) -> tuple[str, ...] | None:
    for _op, key, values in atom.condition:
        if key.lower() == _EXTERNAL_ID:
            return values
    return None


def _trust_missing(atom: Atom, observed: frozenset[Atom]) -> str:
    """Why an expected trust atom is not there: a dropped or changed condition on the same
    principal is named as such, not as a missing principal."""
    same = [o for o in observed if _head(o) == _head(atom)]
    if same:
        wanted = _external_ids(atom)
        seen = {_external_ids(o) for o in same}
        if wanted is not None and seen == {None}:
            return "trust: sts:ExternalId condition missing"
        if wanted is not None and wanted not in seen:
            return "trust: sts:ExternalId condition changed"
        return f"trust: condition for principal {atom.principal} changed"
    return f"trust: principal {atom.principal} missing"


def _trust(role: ExpectedRole, observed: ObservedRole) -> list[str]:
    expected = atoms({"Statement": list(role.trust_statements)})
    seen = atoms(observed.trust_policy)
    out = [_trust_missing(a, seen) for a in sorted(expected - seen)]
    if role.shared:
        return out
    principals = {a.principal for a in expected}
    for extra in sorted(seen - expected):
        if extra.principal not in principals:
            out.append(f"trust: principal {extra.principal} not approved")
        elif extra.effect == "Allow" and not any(_head(e) == _head(extra) for e in expected):
            out.append(f"trust: action {extra.action} for {extra.principal} not approved")
        elif extra.effect != "Allow":
            out.append(f"trust: {extra.effect} statement for {extra.principal} not approved")
        # same principal and action with another condition: already named as missing/changed
    return out


def _permission_atoms(
    name: str, allowed: dict[str, Any], required: dict[str, Any] | None, document: dict[str, Any]
) -> list[str]:
    allowed_atoms = atoms(allowed)
    seen = atoms(document)
    out: list[str] = []
    allowed_actions = {a.action for a in allowed_atoms}
    for extra in sorted(seen - allowed_atoms):
        if extra.action not in allowed_actions:
            out.append(f"inline policy {name} widened: action {extra.action} not approved")
        else:
            what = extra.resource or "(none)"
            out.append(
                f"inline policy {name} widened: action {extra.action} on {what} not approved"
            )
    for missing in sorted(atoms(required) - seen):
        out.append(f"inline policy {name} narrowed: action {missing.action} missing")
    return out


def _inline(
    expected: dict[str, dict[str, Any]],
    required: dict[str, dict[str, Any]],
    observed: dict[str, dict[str, Any]],
) -> list[str]:
    out: list[str] = []
    for name in sorted(set(expected) | set(observed)):
        if name not in observed:
            out.append(f"inline policy {name} missing")
        elif name not in expected:
            out.append(f"inline policy {name} not approved")
        else:
            out += _permission_atoms(name, expected[name], required.get(name), observed[name])
    return out


def _attached(expected: frozenset[str], observed: frozenset[str]) -> list[str]:
    return [f"attached policy {arn} missing" for arn in sorted(expected - observed)] + [
        f"attached policy {arn} not approved" for arn in sorted(observed - expected)
    ]


def _one(item: Expected, observed: ObservedRole | ObservedUser | None) -> tuple[bool, list[str]]:
    """(nothing of the grant is there, differences) for one expected item."""
    kind = "user" if isinstance(item, ExpectedUser) else "role"
    if isinstance(item, ExpectedAbsentRole):
        if observed is not None and observed.exists:
            return True, [f"role {item.name} present, expected absent"]
        return True, []
    if observed is None or not observed.exists:
        return True, [f"{kind} {item.name} missing"]
    if isinstance(item, ExpectedUser):
        if not isinstance(observed, ObservedUser):
            return True, [f"user {item.name} missing"]
        diffs = _inline(item.inline_policies, item.inline_policies, observed.inline_policies)
        diffs += _attached(frozenset(), observed.attached_policy_arns)
        return False, [f"user {item.name}: {d}" for d in diffs]
    if not isinstance(observed, ObservedRole):
        return True, [f"role {item.name} missing"]
    if item.shared:
        expected = atoms({"Statement": list(item.trust_statements)})
        if not expected & atoms(observed.trust_policy):
            return True, [f"role {item.name}: trust: vendor statement missing"]
        return False, [f"role {item.name}: {d}" for d in _trust(item, observed)]
    diffs = _trust(item, observed)
    diffs += _attached(item.attached_policy_arns, observed.attached_policy_arns)
    diffs += _inline(item.inline_policies, item.inline_required, observed.inline_policies)
    return False, [f"role {item.name}: {d}" for d in diffs]


def compare(
    expected: ExpectedState,
    observed: Iterable[ObservedRole | ObservedUser | AccountUnreadable],
) -> Verdict:
    roles: dict[tuple[str, str], ObservedRole] = {}
    users: dict[tuple[str, str], ObservedUser] = {}
    unreadable: dict[str, AccountUnreadable] = {}
    for seen in observed:
        if isinstance(seen, AccountUnreadable):
            unreadable.setdefault(seen.account_id, seen)
        elif isinstance(seen, ObservedUser):
            users[(seen.account_id, seen.name)] = seen
        else:
            roles[(seen.account_id, seen.name)] = seen
    verdicts: list[AccountVerdict] = []
    for account in expected.accounts():
        if account in unreadable:
            u = unreadable[account]
            verdicts.append(AccountVerdict(account, State.UNREADABLE, (), u.reason, u.message))
            continue
        gone_all = True
        diffs: list[str] = []
        not_read: list[str] = []
        any_present = False
        for item in expected.for_account(account):
            key = (item.account_id, item.name)
            found = users.get(key) if isinstance(item, ExpectedUser) else roles.get(key)
            if found is None:
                not_read.append(item.name)
                continue
            gone, item_diffs = _one(item, found)
            if not isinstance(item, ExpectedAbsentRole):
                any_present = True
                gone_all = gone_all and gone
            elif item_diffs:
                gone_all = False
            diffs += item_diffs
        if not_read:
            # Not reading something is not seeing it gone: never guessed.
            verdicts.append(
                AccountVerdict(
                    account,
                    State.UNREADABLE,
                    (),
                    "error",
                    "not read: " + ", ".join(sorted(not_read)),
                )
            )
        elif gone_all and any_present:
            verdicts.append(AccountVerdict(account, State.ABSENT))
        elif diffs:
            verdicts.append(AccountVerdict(account, State.DIFFERS, tuple(sorted(set(diffs)))))
        else:
            verdicts.append(AccountVerdict(account, State.MATCHES))
    return Verdict(tuple(verdicts))


# -- who a trust policy lets in (the external-access scan) -----------------------------------

_PRINCIPAL_ACCOUNT = re.compile(r"arn:aws:(?:iam|sts)::(\d{12}):")


@dataclass(frozen=True, order=True)
class TrustedPrincipal:
    """One AWS principal an Allow statement of a role's trust policy lets in, in the canonical
    form verification compares (an account as its root ARN), with its account ("" for "*")."""

    principal: str
    account_id: str
    external_id_required: bool


def trusted_principals(document: dict[str, Any] | None) -> list[TrustedPrincipal]:
    """The AWS principals (account, role, user or "*") a trust policy allows, sorted. Service
    and federated principals are not vendors' accounts and a NotPrincipal is not a grant, so
    they are left out, as is an id IAM shows for a deleted principal (it names nobody). A
    principal counts as requiring `sts:ExternalId` only if every statement letting it in
    does: one statement without the condition is enough to get in without it."""
    required: dict[str, bool] = {}
    for atom in atoms(document):
        if atom.effect != "Allow":
            continue
        if atom.principal != "*" and not _PRINCIPAL_ACCOUNT.match(atom.principal):
            continue
        with_id = _external_ids(atom) is not None
        required[atom.principal] = required.get(atom.principal, True) and with_id
    found = []
    for principal, with_id in required.items():
        match = _PRINCIPAL_ACCOUNT.match(principal)
        found.append(TrustedPrincipal(principal, match.group(1) if match else "", with_id))
    return sorted(found)
