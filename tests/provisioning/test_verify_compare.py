"""compare(): what an approved grant should have put in IAM against what a reader saw."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioning.substrate import policies
from provisioning.substrate.expected import ExpectedState, expected_state
from provisioning.substrate.model import Grant, Strategy, TargetAccount
from provisioning.substrate.observed import AccountUnreadable, ObservedRole, ObservedUser
from provisioning.substrate.verify import State, compare

pytestmark = pytest.mark.pure

A1, A2, SUB = "111111111111", "222222222222", "333333333333"
VENDOR_ARN = "arn:aws:iam::777777777777:role/orbit-scanner"
INLINE: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}],
}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def acct(account_id: str, environment: str = "production") -> TargetAccount:
    return TargetAccount(account_id, "payments", environment, "default")


def grant(strategy: Strategy = Strategy.ROLE_PER_ACCOUNT, **kw: Any) -> Grant:
    base: dict[str, Any] = {
        "vendor": "orbit-ci",
        "strategy": strategy,
        "role_name": "VendorScanner",
        "principals": (VENDOR_ARN, "777777777777"),
        "external_id": "orbit-x1",
        "accounts": (acct(A1), acct(A2)),
        "managed_policy_arns": (READ_ONLY,),
        "inline_policy": INLINE,
    }
    base.update(kw)
    return Grant(**base)


def applied(state: ExpectedState) -> list[Any]:
    """What IAM would show after a faithful apply, spelled the way IAM rewrites it."""
    seen: list[Any] = []
    for item in state.items:
        if hasattr(item, "trust_statements"):
            trust = copy.deepcopy(policies.document(item.trust_statements))  # type: ignore[union-attr]
            for st in trust["Statement"]:
                st["Sid"] = ""
                aws = [
                    f"arn:aws:iam::{p}:root" if p.isdigit() else p for p in st["Principal"]["AWS"]
                ]
                st["Principal"]["AWS"] = aws[0] if len(aws) == 1 else list(reversed(aws))
            seen.append(
                ObservedRole(
                    item.account_id,
                    item.name,
                    True,
                    trust,
                    item.attached_policy_arns,  # type: ignore[union-attr]
                    dict(item.inline_policies),  # type: ignore[union-attr]
                )
            )
        elif hasattr(item, "inline_policies"):
            seen.append(ObservedUser(item.account_id, item.name, True, dict(item.inline_policies)))
        else:
            seen.append(ObservedRole(item.account_id, item.name, False))
    return seen


def replace(seen: list[Any], account: str, **changes: Any) -> list[Any]:
    out = []
    for o in seen:
        if o.account_id == account and isinstance(o, ObservedRole):
            fields = {**o.__dict__, **changes}
            o = ObservedRole(**fields)
        out.append(o)
    return out


def test_exact_match_including_iam_rewrites():
    state = expected_state(grant(), dialect="terraform")
    verdict = compare(state, applied(state))
    assert verdict.state is State.MATCHES
    assert [a.state for a in verdict.accounts] == [State.MATCHES, State.MATCHES]


def test_extra_principal_is_named():
    state = expected_state(grant(), dialect="terraform")
    seen = applied(state)
    trust = copy.deepcopy(seen[0].trust_policy)
    trust["Statement"][0]["Principal"]["AWS"] = [VENDOR_ARN, "777777777777", "999999999999"]
    verdict = compare(state, replace(seen, A1, trust_policy=trust))
    assert verdict.state is State.DIFFERS
    assert verdict.account(A1).differences == (
        "role VendorScanner: trust: principal arn:aws:iam::999999999999:root not approved",
    )
    assert verdict.account(A2).state is State.MATCHES


def test_removed_external_id_is_named():
    state = expected_state(grant(), dialect="terraform")
    seen = applied(state)
    trust = copy.deepcopy(seen[0].trust_policy)
    del trust["Statement"][0]["Condition"]
    verdict = compare(state, replace(seen, A1, trust_policy=trust))
    assert verdict.account(A1).differences == (
        "role VendorScanner: trust: sts:ExternalId condition missing",
    )


def test_extra_attachment_and_widened_inline_policy_are_named():
    state = expected_state(grant(), dialect="terraform")
    seen = applied(state)
    wide = copy.deepcopy(INLINE)
    wide["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    seen = replace(
        seen,
        A1,
        attached_policy_arns=frozenset({READ_ONLY, admin}),
        inline_policies={"orbit-ci": wide},
    )
    assert compare(state, seen).account(A1).differences == (
        f"role VendorScanner: attached policy {admin} not approved",
        "role VendorScanner: inline policy orbit-ci widened: action s3:* not approved",
    )


def test_missing_role_and_everything_absent():
    state = expected_state(grant(), dialect="terraform")
    seen = applied(state)
    half = replace(seen, A1, exists=False, trust_policy=None, inline_policies={})
    verdict = compare(state, half)
    assert verdict.state is State.DIFFERS
    assert verdict.account(A1).state is State.ABSENT
    gone = [ObservedRole(o.account_id, o.name, False) for o in seen]
    verdict = compare(state, gone)
    assert verdict.state is State.ABSENT


def test_unreadable_account_is_never_guessed():
    state = expected_state(grant(), dialect="terraform")
    seen = [o for o in applied(state) if o.account_id != A2]
    seen.append(AccountUnreadable(A2, "access_denied", "AccessDenied on AssumeRole"))
    verdict = compare(state, seen)
    assert verdict.state is State.UNREADABLE
    assert verdict.account(A2).reason == "access_denied"
    assert verdict.account(A1).state is State.MATCHES
    # nothing read at all for an account: unreadable too, not absent
    assert compare(state, applied(state)[:1]).account(A2).state is State.UNREADABLE


def test_mix_names_each_account():
    state = expected_state(
        grant(Strategy.HUB_ROLE), dialect="role-create", substrate_account_id=SUB
    )
    seen = applied(state)
    seen = replace(seen, A1, attached_policy_arns=frozenset())
    seen = [o for o in seen if o.account_id != A2] + [AccountUnreadable(A2, "throttled", "x")]
    verdict = compare(state, seen)
    assert verdict.state is State.DIFFERS
    assert {a.account_id: a.state for a in verdict.accounts} == {
        A1: State.DIFFERS,
        A2: State.UNREADABLE,
        SUB: State.MATCHES,
    }
    assert verdict.account(A1).differences == (
        f"role VendorScanner: attached policy {READ_ONLY} missing",
    )


def test_role_create_substrate_managed_must_contain_the_grant():
    state = expected_state(grant(), dialect="role-create")
    seen = applied(state)
    minimal = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    seen = replace(seen, A1, inline_policies={"SubstrateManaged": minimal})
    diffs = compare(state, seen).account(A1).differences
    assert diffs == (
        "role VendorScanner: inline policy SubstrateManaged narrowed: action s3:getobject missing",
    )


@pytest.mark.parametrize("strategy", [Strategy.AUDITOR, Strategy.ADMINISTRATOR])
def test_shared_roles_need_the_vendor_statement_and_allow_others(strategy):
    types = {A1: "service", SUB: "substrate", "444444444444": "management"}
    g = grant(strategy, accounts=(), managed_policy_arns=(), inline_policy=None)
    state = expected_state(g, dialect="terraform", accounts_by_type=types)
    names = {n for _a, n in state.roles_to_read()}
    assert "Auditor" in names
    if strategy is Strategy.ADMINISTRATOR:
        assert {"Administrator", "OrganizationAdministrator"} <= names
    seen = applied(state)
    canonical = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{SUB}:root"},
        "Action": "sts:AssumeRole",
    }
    seen = [
        ObservedRole(
            o.account_id, o.name, True, {"Statement": [canonical, *o.trust_policy["Statement"]]}
        )
        for o in seen
    ]
    assert compare(state, seen).state is State.MATCHES
    bare = [ObservedRole(o.account_id, o.name, True, {"Statement": [canonical]}) for o in seen]
    assert compare(state, bare).state is State.ABSENT


def test_iam_user_and_terraform_absent_roles():
    other = TargetAccount("555555555555", "payments", "staging", "default")
    g = grant(
        Strategy.IAM_USER,
        principals=(),
        external_id=None,
        accounts=(acct(A1),),
    )
    state = expected_state(
        g,
        dialect="terraform",
        substrate_account_id=SUB,
        domain_accounts=[other, acct(A1)],
    )
    assert state.users_to_read() == ((SUB, "orbit-ci"),)
    assert (other.id, "VendorScanner") in state.roles_to_read()
    seen = applied(state)
    assert compare(state, seen).state is State.MATCHES
    seen = [
        ObservedRole(other.id, "VendorScanner", True) if o.account_id == other.id else o
        for o in seen
    ]
    verdict = compare(state, seen)
    assert verdict.account(other.id).differences == ("role VendorScanner present, expected absent",)
