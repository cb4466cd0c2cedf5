"""What an approved grant should have put in IAM, account by account, once its commands ran.

Verification reads IAM and holds it against this (provisioning.substrate.verify). It is
built from the grant and from the few facts verification knows without a repository
checkout (the dialect used, the Substrate account id, the organization's accounts), with
the generator's own helpers, so that the generator and the check cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import names, policies, strategies
from .model import AccountType, Dialect, Grant, Strategy, TargetAccount

# The statement `substrate role create` puts in SubstrateManaged whatever the grant asks for
# (strategies.ROLE_CREATE_WARNING says the same to reviewers).
SUBSTRATE_MANAGED_MINIMAL: dict[str, Any] = {
    "Effect": "Allow",
    "Action": ["organizations:DescribeOrganization", "sts:AssumeRole"],
    "Resource": "*",
}

# Substrate merges the Administrator file into these roles, by account type (SUBSTRATE.md).
ADMIN_ROLE_BY_TYPE: dict[AccountType, str] = {
    AccountType.SERVICE: "Administrator",
    AccountType.SUBSTRATE: "Administrator",
    AccountType.MANAGEMENT: "OrganizationAdministrator",
    AccountType.AUDIT: "AuditAdministrator",
    AccountType.DEPLOY: "DeployAdministrator",
    AccountType.NETWORK: "NetworkAdministrator",
}
AUDITOR_ROLE = "Auditor"


@dataclass(frozen=True)
class ExpectedRole:
    """A role the grant owns (`shared` False: its trust and permissions are exactly these) or
    a Substrate role it adds a trust statement to (`shared` True: the statements must be
    present, anything else Substrate put there is allowed)."""

    account_id: str
    name: str
    trust_statements: tuple[dict[str, Any], ...]
    shared: bool = False
    attached_policy_arns: frozenset[str] = frozenset()
    # name -> the document whose statements are allowed (anything beyond is a widening)
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    # name -> the statements that must be there (role create adds its own to SubstrateManaged)
    inline_required: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ExpectedUser:
    account_id: str
    name: str
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ExpectedAbsentRole:
    """A role that must not exist (terraform S5: the domain's accounts not selected)."""

    account_id: str
    name: str


Expected = ExpectedRole | ExpectedUser | ExpectedAbsentRole


@dataclass(frozen=True)
class ExpectedState:
    grant_vendor: str
    items: tuple[Expected, ...]

    def accounts(self) -> tuple[str, ...]:
        """Every account verification must read, sorted."""
        return tuple(sorted({item.account_id for item in self.items}))

    def roles_to_read(self) -> tuple[tuple[str, str], ...]:
        """The (account, role name) pairs a reader must read, sorted."""
        return tuple(
            sorted(
                {
                    (item.account_id, item.name)
                    for item in self.items
                    if isinstance(item, ExpectedRole | ExpectedAbsentRole)
                }
            )
        )

    def users_to_read(self) -> tuple[tuple[str, str], ...]:
        return tuple(
            sorted({(i.account_id, i.name) for i in self.items if isinstance(i, ExpectedUser)})
        )

    def for_account(self, account_id: str) -> tuple[Expected, ...]:
        return tuple(item for item in self.items if item.account_id == account_id)


def _assume(resources: list[str]) -> dict[str, Any]:
    return policies.document(
        [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": resources}]
    )


def _permissions(grant: Grant, dialect: Dialect, own: dict[str, Any] | None) -> dict[str, Any]:
    """Attached ARNs and inline policies of a grant-owned role. `own` replaces the grant's
    inline policy (the hub's assume-the-spokes policy)."""
    arns = frozenset(grant.managed_policy_arns)
    if dialect is Dialect.ROLE_CREATE:
        # The hub gets only what role create always writes; spokes get the grant's statements.
        source = {} if own is not None else (grant.inline_policy or {})
        raw = source.get("Statement", [])
        statements = [raw] if isinstance(raw, dict) else list(raw)
        allowed = policies.document([SUBSTRATE_MANAGED_MINIMAL, *statements])
        required = policies.document(statements)
        return {
            "attached_policy_arns": arns if own is None else frozenset(),
            "inline_policies": {names.SUBSTRATE_MANAGED_POLICY: allowed},
            "inline_required": {names.SUBSTRATE_MANAGED_POLICY: required},
        }
    if own is not None:
        inline = own
    elif grant.inline_policy is not None:
        inline = {grant.vendor: grant.inline_policy}
    else:
        inline = {}
    return {
        "attached_policy_arns": arns if own is None else frozenset(),
        "inline_policies": inline,
        "inline_required": inline,
    }


def _vendor_statement(grant: Grant) -> dict[str, Any]:
    return policies.vendor_trust_statement(grant.principals, grant.external_id or "")


def expected_state(
    grant: Grant,
    *,
    dialect: Dialect | str,
    substrate_account_id: str = "",
    accounts_by_type: Mapping[str, AccountType | str] | None = None,
    domain_accounts: Iterable[TargetAccount] = (),
) -> ExpectedState:
    """The IAM the grant should have put in each account.

    `accounts_by_type` (account id -> type) is needed by the Auditor/Administrator
    strategies, which reach every account; `substrate_account_id` by the hub and IAM-user
    strategies. `domain_accounts` (the inventory's service accounts with their domain,
    environment and quality) lets the terraform IAM-user strategy also expect the role to be
    absent where the domain module gives it count 0; without it that check is left out.
    """
    dialect = Dialect(dialect)
    items: list[Expected] = []
    targets = [a.id for a in grant.accounts]
    if grant.strategy is Strategy.ROLE_PER_ACCOUNT:
        for account in targets:
            items.append(
                ExpectedRole(
                    account,
                    grant.role_name,
                    (_vendor_statement(grant),),
                    **_permissions(grant, dialect, None),
                )
            )
    elif grant.strategy is Strategy.HUB_ROLE:
        substrate = names.account_id(substrate_account_id, "substrate_account_id")
        hub_arn = f"arn:aws:iam::{substrate}:role/{grant.hub_role_name}"
        spokes = list(grant.account_role_arns)
        # The generator's own budget: past it the hub may assume the role in any account.
        if policies.minified_length(spokes) > strategies._HUB_POLICY_BUDGET:
            spokes = [f"arn:aws:iam::*:role/{grant.role_name}"]
        own = {names.hub_policy_name(grant.vendor): _assume(spokes)}
        items.append(
            ExpectedRole(
                substrate,
                grant.hub_role_name,
                (_vendor_statement(grant),),
                **_permissions(grant, dialect, own),
            )
        )
        for account in targets:
            items.append(
                ExpectedRole(
                    account,
                    grant.role_name,
                    (policies.principal_trust_statement(hub_arn),),
                    **_permissions(grant, dialect, None),
                )
            )
    elif grant.strategy in (Strategy.AUDITOR, Strategy.ADMINISTRATOR):
        statement = _vendor_statement(grant)
        for account, kind in sorted((accounts_by_type or {}).items()):
            role_names = {AUDITOR_ROLE}
            if grant.strategy is Strategy.ADMINISTRATOR:
                role_names.add(ADMIN_ROLE_BY_TYPE[AccountType(kind)])
            for name in sorted(role_names):
                items.append(ExpectedRole(account, name, (statement,), shared=True))
    elif grant.strategy is Strategy.IAM_USER:
        substrate = names.account_id(substrate_account_id, "substrate_account_id")
        items.append(
            ExpectedUser(
                substrate,
                grant.vendor,
                {grant.vendor: _assume([f"arn:aws:iam::*:role/{grant.role_name}"])},
            )
        )
        user_arn = f"arn:aws:iam::{substrate}:user/{grant.vendor}"
        for account in targets:
            items.append(
                ExpectedRole(
                    account,
                    grant.role_name,
                    (policies.principal_trust_statement(user_arn),),
                    **_permissions(grant, dialect, None),
                )
            )
        if dialect is Dialect.TERRAFORM:
            domains = {a.domain for a in grant.accounts}
            for other in domain_accounts:
                if (
                    other.domain in domains
                    and other.type is AccountType.SERVICE
                    and other.id not in targets
                ):
                    items.append(ExpectedAbsentRole(other.id, grant.role_name))
    return ExpectedState(grant.vendor, tuple(items))
