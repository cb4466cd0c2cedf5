"""What each strategy x dialect puts in the repository, and which commands it needs.

`footprint()` turns a grant into a `Footprint`: the files the portal owns outright for this
vendor, the statements it adds to shared trust-policy documents, the domains that need the
`aws.admin` plumbing, and the commands to run after merging the grant or its revocation.
`changeset` then compares the footprint with the repository.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import hcl, policies, terraform
from .commands import V2023_08, V2024_01, Commands, Selection
from .errors import GrantError, LayoutError
from .layout import RepoLayout, ServiceModule, SubstrateVersion
from .model import AccountType, Command, Dialect, Grant, Strategy, TargetAccount

# Room for the spoke ARNs in the hub's inline policy: IAM allows 10,240 characters of inline
# policy per role, and the statement around the list takes about a hundred.
_HUB_POLICY_BUDGET = 10_000

ADMINISTRATOR_FILE = "substrate.Administrator.assume-role-policy.json"
AUDITOR_FILE = "substrate.Auditor.assume-role-policy.json"


@dataclass(frozen=True)
class Context:
    """Everything besides the grant that decides the output."""

    layout: RepoLayout
    dialect: Dialect
    version: SubstrateVersion
    substrate_account_id: str | None = None
    admin_quality: str | None = None

    @property
    def commands(self) -> Commands:
        """Command builder for the organization's release."""
        return Commands(self.version)

    def require_admin_quality(self) -> str:
        """The Substrate account's quality (directory under root-modules/admin)."""
        return self.layout.admin_quality(self.admin_quality)

    def require_substrate_account(self) -> str:
        """The Substrate account number: the override, or what its providers.tf assumes into."""
        if self.substrate_account_id is not None:
            return self.substrate_account_id
        quality = self.require_admin_quality()
        found = self.layout.module_account_id(f"root-modules/admin/{quality}/global")
        if found is None:
            raise LayoutError(
                "cannot find the Substrate account number in "
                f"root-modules/admin/{quality}/global/providers.tf; set substrate_account_id"
            )
        return found

    def require_region(self) -> str:
        """The default region (substrate.default-region)."""
        region = self.layout.default_region
        if region is None:
            raise LayoutError("substrate.default-region is missing")
        return region


@dataclass
class Footprint:
    """The repository content and commands one grant stands for."""

    owned_files: dict[str, str] = field(default_factory=dict)
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    iam_user_domains: tuple[str, ...] = ()
    grant_commands: list[Command] = field(default_factory=list)
    revoke_commands: list[Command] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _external_id(grant: Grant) -> str:
    """The grant's external id; `Grant` guarantees one for every vendor-trust strategy."""
    if grant.external_id is None:
        raise GrantError("external_id", "is required for every vendor trust statement")
    return grant.external_id


# -- account selection ----------------------------------------------------------------------


def _service_targets(grant: Grant, ctx: Context) -> list[ServiceModule]:
    """The grant's service accounts as root modules, in Substrate's order, each checked."""
    layout = ctx.layout
    wanted: dict[tuple[str, str, str], TargetAccount] = {}
    for account in grant.accounts:
        if account.type is AccountType.SERVICE:
            if account.key not in layout.service_module_keys:
                raise GrantError(
                    "accounts",
                    f"no root module for {'/'.join(account.key)} in the repository",
                )
            if account.key in wanted:
                raise GrantError("accounts", f"{'/'.join(account.key)} is listed twice")
            wanted[account.key] = account
    modules = [m for m in layout.service_modules if m.key in wanted]
    for module in modules:
        # The repository's providers.tf names the account each root module runs in; a
        # mismatch means the portal's inventory and the repository disagree about which
        # account is which, and granting on either view could reach the wrong account.
        found = layout.module_account_id(module.path)
        expected = wanted[module.key].id
        if found is not None and found != expected:
            raise GrantError(
                "accounts",
                f"{'/'.join(module.key)} is account {found} in the repository, not {expected}",
            )
    return modules


def _check_substrate_targets(grant: Grant, ctx: Context) -> None:
    """A Substrate-account target must be the account the repository's admin tree runs in."""
    for account in grant.accounts:
        if account.type is AccountType.SUBSTRATE:
            found = ctx.require_substrate_account()
            if account.id != found:
                raise GrantError(
                    "accounts",
                    f"the Substrate account is {found} in the repository, not {account.id}",
                )


def _only_types(grant: Grant, allowed: Iterable[AccountType], why: str) -> None:
    allowed = frozenset(allowed)
    for account in grant.accounts:
        if account.type not in allowed:
            raise GrantError("accounts", f"{account.type} account {account.id}: {why}")


# `--special audit` exists only since 2024.01, and `role delete` skips the audit account in
# every release, so a role created there could not be revoked by the portal's change set.
_AUDIT_UNSUPPORTED = {
    False: "create-role cannot select the audit account before Substrate 2024.01",
    True: "substrate role delete skips the audit account, so revoking the grant could not "
    "remove the role there",
}


def _role_create_selection(grant: Grant, ctx: Context) -> Selection:
    """The `role create` selection for the grant's accounts, which must be a full product."""
    layout = ctx.layout
    modules = _service_targets(grant, ctx)
    domains = sorted({m.domain for m in modules})
    environments = sorted(
        {m.environment for m in modules}, key=lambda e: (layout.position(layout.environments, e), e)
    )
    qualities = sorted(
        {m.quality for m in modules}, key=lambda q: (layout.position(layout.qualities, q), q)
    )
    product = {
        m.key
        for m in layout.service_modules
        if m.domain in domains and m.environment in environments and m.quality in qualities
    }
    extra = sorted(product - {m.key for m in modules})
    if extra:
        shown = ", ".join("/".join(key) for key in extra[:5])
        raise GrantError(
            "accounts",
            "role create selects whole domains x environments x qualities; this selection "
            f"would also reach {shown}" + (" and more" if len(extra) > 5 else ""),
        )
    _check_substrate_targets(grant, ctx)
    specials: list[str] = []
    substrate = management = False
    for account in grant.accounts:
        if account.type is AccountType.SUBSTRATE:
            substrate = True
        elif account.type is AccountType.MANAGEMENT:
            management = True
        elif account.type in (AccountType.DEPLOY, AccountType.NETWORK):
            specials.append(str(account.type))
        elif account.type is AccountType.AUDIT:
            raise GrantError("accounts", _AUDIT_UNSUPPORTED[ctx.version >= V2024_01])
    return Selection(
        domains=tuple(domains),
        environments=tuple(environments),
        qualities=tuple(qualities),
        substrate=substrate,
        management=management,
        specials=tuple(sorted(specials)),
    )


def _apply_services(ctx: Context, modules: Iterable[ServiceModule], why: str) -> list[Command]:
    return [ctx.commands.apply_service(*m.key, why=why) for m in modules]


# -- file names -----------------------------------------------------------------------------


def trust_policy_path(grant: Grant) -> str:
    """The vendor trust policy file for `role create`."""
    return f"policies/{grant.vendor}.assume-role-policy.json"


def user_trust_policy_path(grant: Grant) -> str:
    """The trust policy (trusting the vendor's IAM user) of the role an IAM-user grant creates;
    its own name, so that the vendor's role grant beside it keeps its file."""
    return f"policies/{grant.vendor}-user.assume-role-policy.json"


def hub_trust_policy_path(grant: Grant) -> str:
    """The spoke roles' trust policy (trusting the hub) for `role create`."""
    return f"policies/{grant.vendor}-hub.assume-role-policy.json"


def _add_inline_policy(grant: Grant, fp: Footprint) -> list[str]:
    text = grant.inline_policy_json
    if text is None:
        return []
    path = terraform.inline_policy_path(grant)
    fp.owned_files[path] = text
    return [path]


# -- strategies -----------------------------------------------------------------------------


def _role_per_account(grant: Grant, ctx: Context) -> Footprint:
    fp = Footprint()
    if ctx.dialect is Dialect.ROLE_CREATE:
        selection = _role_create_selection(grant, ctx)
        fp.owned_files[trust_policy_path(grant)] = policies.document_text(
            [policies.vendor_trust_statement(grant.principals, _external_id(grant))]
        )
        files = _add_inline_policy(grant, fp)
        fp.grant_commands.append(
            ctx.commands.role_create(
                grant.role_name,
                selection,
                [trust_policy_path(grant)],
                grant.managed_policy_arns,
                files,
                why=f"create {grant.role_name} in the selected accounts",
            )
        )
        fp.revoke_commands.append(
            ctx.commands.role_delete(grant.role_name, f"delete {grant.role_name} everywhere")
        )
        return fp

    _only_types(
        grant,
        (AccountType.SERVICE, AccountType.SUBSTRATE),
        "the terraform dialect has root modules only for service and Substrate accounts",
    )
    _add_inline_policy(grant, fp)
    principals = [hcl.quote(p) for p in grant.principals]
    commands: list[Command] = []
    if any(a.type is AccountType.SUBSTRATE for a in grant.accounts):
        _check_substrate_targets(grant, ctx)
        quality = ctx.require_admin_quality()
        module_dir = f"root-modules/admin/{quality}/global"
        fp.owned_files[f"{module_dir}/{grant.vendor}.tf"] = terraform.account_role_file(
            grant, module_dir, principals, _external_id(grant)
        )
        commands.append(ctx.commands.apply_admin(quality, "apply the Substrate account"))
    modules = _service_targets(grant, ctx)
    for module in modules:
        fp.owned_files[f"{module.path}/{grant.vendor}.tf"] = terraform.account_role_file(
            grant, module.path, principals, _external_id(grant)
        )
    commands += _apply_services(ctx, modules, "apply the account's global root module")
    fp.grant_commands = commands
    fp.revoke_commands = list(commands)
    return fp


def _hub_role(grant: Grant, ctx: Context) -> Footprint:
    fp = Footprint()
    _only_types(
        grant,
        (AccountType.SERVICE, AccountType.MANAGEMENT, AccountType.DEPLOY, AccountType.NETWORK),
        "the hub role itself lives in the Substrate account",
    )
    substrate = ctx.require_substrate_account()
    hub_arn = f"arn:aws:iam::{substrate}:role/{grant.hub_role_name}"
    if ctx.dialect is Dialect.ROLE_CREATE:
        selection = _role_create_selection(grant, ctx)
        fp.owned_files[trust_policy_path(grant)] = policies.document_text(
            [policies.vendor_trust_statement(grant.principals, _external_id(grant))]
        )
        fp.owned_files[hub_trust_policy_path(grant)] = policies.document_text(
            [policies.principal_trust_statement(hub_arn)]
        )
        files = _add_inline_policy(grant, fp)
        commands = ctx.commands
        fp.grant_commands += [
            commands.role_create(
                grant.hub_role_name,
                Selection(substrate=True),
                [trust_policy_path(grant)],
                why="create the hub role the vendor assumes first",
            ),
            commands.role_create(
                grant.role_name,
                selection,
                [hub_trust_policy_path(grant)],
                grant.managed_policy_arns,
                files,
                why="create the spoke roles trusting the hub",
            ),
        ]
        fp.revoke_commands += [
            commands.role_delete(grant.role_name, "delete the spoke roles"),
            commands.role_delete(grant.hub_role_name, "delete the hub role"),
        ]
        return fp

    _only_types(grant, (AccountType.SERVICE,), "the terraform dialect edits service accounts")
    quality = ctx.require_admin_quality()
    admin_dir = f"root-modules/admin/{quality}/global"
    modules = _service_targets(grant, ctx)
    ids = {account.key: account.id for account in grant.accounts}
    spokes = [grant.role_arn(ids[module.key]) for module in modules]
    if policies.minified_length(spokes) > _HUB_POLICY_BUDGET:
        # Past a few hundred accounts the list would break IAM's inline-policy limit; the
        # spokes' trust policies, naming only the hub, still decide where it can go.
        spokes = [f"arn:aws:iam::*:role/{grant.role_name}"]
        fp.warnings.append(
            f"The hub role may assume {grant.role_name} in any account: listing every spoke "
            "ARN would exceed IAM's inline policy size limit."
        )
    fp.owned_files[f"{admin_dir}/{grant.vendor}.tf"] = terraform.hub_role_file(grant, spokes)
    _add_inline_policy(grant, fp)
    for module in modules:
        fp.owned_files[f"{module.path}/{grant.vendor}.tf"] = terraform.account_role_file(
            grant, module.path, [hcl.quote(hub_arn)], None
        )
    hub = ctx.commands.apply_admin(quality, "apply the Substrate account (hub role)")
    applies = _apply_services(ctx, modules, "apply the account's global root module (spoke)")
    fp.grant_commands = [hub, *applies]
    fp.revoke_commands = [*applies, hub]  # remove the spokes before the role they trust
    return fp


def _reuse(grant: Grant, ctx: Context, path: str, auditor: bool) -> Footprint:
    fp = Footprint()
    fp.statements.append(
        (path, policies.vendor_trust_statement(grant.principals, _external_id(grant)))
    )
    commands = ctx.commands
    # Only create-admin-account (<= 2023.07) names the admin account's quality; `substrate
    # setup` needs no root-modules/admin tree to find.
    quality = ctx.require_admin_quality() if ctx.version < V2023_08 else ""
    role = "Auditor" if auditor else "Administrator"
    refresh = [commands.refresh_admin_roles(quality, f"re-apply the {role} trust policies")]
    if auditor:
        for module in ctx.layout.service_modules:
            command = commands.refresh_service_roles(
                *module.key, why="re-apply the account's Auditor role"
            )
            if command is not None:
                refresh.append(command)
        fp.warnings.append(
            "Auditor is read-only everywhere, but the audit account's Auditor has no deny list "
            "(it can read CloudTrail objects)."
        )
    else:
        fp.warnings.append(
            "Administrator statements also reach OrganizationAdministrator, AuditAdministrator, "
            "DeployAdministrator, NetworkAdministrator and every Auditor role: full "
            "administrator access in every account, including the management account."
        )
    fp.grant_commands = refresh
    fp.revoke_commands = list(refresh)
    return fp


def _iam_user(grant: Grant, ctx: Context) -> Footprint:
    fp = Footprint()
    quality = ctx.require_admin_quality()
    admin_dir = f"root-modules/admin/{quality}/global"
    fp.owned_files[f"{admin_dir}/{grant.vendor}.tf"] = terraform.iam_user_file(
        grant, f"arn:aws:iam::*:role/{grant.role_name}"
    )
    apply_admin = ctx.commands.apply_admin(quality, "apply the Substrate account (IAM user)")
    fp.warnings.append(
        "The access key is created by the portal after merge, never by Terraform or a command."
    )
    if ctx.dialect is Dialect.ROLE_CREATE:
        user_arn = f"arn:aws:iam::{ctx.require_substrate_account()}:user/{grant.vendor}"
        selection = _role_create_selection(grant, ctx)
        fp.owned_files[user_trust_policy_path(grant)] = policies.document_text(
            [policies.principal_trust_statement(user_arn)]
        )
        files = _add_inline_policy(grant, fp)
        create = ctx.commands.role_create(
            grant.role_name,
            selection,
            [user_trust_policy_path(grant)],
            grant.managed_policy_arns,
            files,
            why="create the role the IAM user assumes",
        )
        # The user must exist before a trust policy can name it (IAM rejects unknown
        # principals), and the role must go before the user on the way out.
        fp.grant_commands = [apply_admin, create]
        fp.revoke_commands = [
            ctx.commands.role_delete(grant.role_name, "delete the role"),
            apply_admin,
        ]
        return fp

    _only_types(grant, (AccountType.SERVICE,), "the terraform dialect edits domain modules")
    ctx.require_substrate_account()
    ctx.require_region()
    _add_inline_policy(grant, fp)
    modules = _service_targets(grant, ctx)
    domains = sorted({m.domain for m in modules})
    for domain in domains:
        module_dir = f"modules/{domain}/global"
        if not ctx.layout.exists(f"{module_dir}/substrate.tf"):
            raise LayoutError(f"{module_dir}/substrate.tf is missing (module.substrate.tags)")
        pairs = [f"{m.environment}/{m.quality}" for m in modules if m.domain == domain]
        fp.owned_files[f"{module_dir}/{grant.vendor}.tf"] = terraform.domain_module_file(
            grant, module_dir, pairs
        )
    fp.iam_user_domains = tuple(domains)
    # The domain module, and the aws.admin plumbing, change under *every* root module of the
    # domain (SUBSTRATE.md decision 4), not only the selected accounts': each one must be
    # applied, or the others keep running the old module until someone happens to apply them.
    targets = {m.key for m in modules}
    services = [
        ctx.commands.apply_service(
            *m.key,
            why="apply the account's global root module"
            if m.key in targets
            else "apply the root module: its domain module and aws.admin provider change",
        )
        for m in ctx.layout.service_modules
        if m.domain in domains
    ]
    fp.grant_commands = [apply_admin, *services]
    fp.revoke_commands = [*services, apply_admin]
    return fp


# SUBSTRATE.md section 5, S2: every `role create` role gets this inline policy, whatever the
# grant asks for; reviewers must know the vendor role can also assume other roles.
ROLE_CREATE_WARNING = (
    "substrate role create also gives every role it creates an inline SubstrateManaged policy "
    "allowing organizations:DescribeOrganization and sts:AssumeRole on *."
)


def footprint(grant: Grant, ctx: Context) -> Footprint:
    """The files, statements, plumbing and commands that `grant` stands for."""
    if grant.strategy is Strategy.AUDITOR:
        return _reuse(grant, ctx, AUDITOR_FILE, auditor=True)
    if grant.strategy is Strategy.ADMINISTRATOR:
        return _reuse(grant, ctx, ADMINISTRATOR_FILE, auditor=False)
    if grant.strategy is Strategy.ROLE_PER_ACCOUNT:
        fp = _role_per_account(grant, ctx)
    elif grant.strategy is Strategy.HUB_ROLE:
        fp = _hub_role(grant, ctx)
    else:
        fp = _iam_user(grant, ctx)
    if ctx.dialect is Dialect.ROLE_CREATE:
        fp.warnings.append(ROLE_CREATE_WARNING)
    return fp
