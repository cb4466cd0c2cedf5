"""The `substrate` commands to run after merge, in the syntax of the organization's release.

Release ranges (SUBSTRATE.md section 0 and the "Settled" notes):

* <= 2023.07: `create-admin-account -quality Q` applies the admin tree *and* re-applies the
  Administrator and Auditor roles everywhere; `create-account -domain D -environment E
  -quality Q` applies a service account's Terraform.
* 2023.03: `create-role` / `delete-role` (Go `flag`: single dash); 2023.03-2023.04 spell the
  permission flags `-administrator` / `-read-only`, 2023.05 and later `-...-access`.
* 2023.08: `substrate setup` replaces `create-admin-account`; `-substrate` replaces `-admin`.
* 2024.01: `role create|delete`, `account update`; double-dash flags only (pflag).
* 2024.03: `setup` and `account update` run Terraform only with `--terraform`.

Every argument is its own argv element; `Command.shell` quotes them with `shlex.join`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import names
from .layout import SubstrateVersion
from .model import Command

V2023_03 = SubstrateVersion(2023, 3)
V2023_05 = SubstrateVersion(2023, 5)
V2023_08 = SubstrateVersion(2023, 8)
V2024_01 = SubstrateVersion(2024, 1)
V2024_03 = SubstrateVersion(2024, 3)


@dataclass(frozen=True)
class Selection:
    """Which accounts a `role create` selects: a domains x environments x qualities product
    plus special accounts. Lists are already in Substrate's order."""

    domains: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    qualities: tuple[str, ...] = ()
    substrate: bool = False
    management: bool = False
    specials: tuple[str, ...] = ()


class Commands:
    """Builds commands for one Substrate release."""

    def __init__(self, version: SubstrateVersion) -> None:
        self.version = version

    def _flag(self, name: str) -> str:
        return f"--{name}" if self.version >= V2024_01 else f"-{name}"

    # -- Terraform runs ------------------------------------------------------------------

    def apply_admin(self, quality: str, why: str) -> Command:
        """Apply the Substrate (admin) account's Terraform."""
        if self.version < V2023_08:
            argv: tuple[str, ...] = ("substrate", "create-admin-account", "-quality", quality)
        elif self.version < V2024_03:
            argv = ("substrate", "setup")
        else:
            argv = ("substrate", "setup", "--terraform")
        return Command(argv, why)

    def apply_service(self, domain: str, environment: str, quality: str, why: str) -> Command:
        """Apply one service account's Terraform."""
        if self.version < V2024_01:
            argv: tuple[str, ...] = (
                "substrate", "create-account",
                "-domain", domain, "-environment", environment, "-quality", quality,
            )  # fmt: skip
        else:
            argv = (
                "substrate", "account", "update",
                "--domain", domain, "--environment", environment, "--quality", quality,
            )  # fmt: skip
            if self.version >= V2024_03:
                argv += ("--terraform",)
        return Command(argv, why)

    # -- Administrator / Auditor trust refresh -------------------------------------------

    def refresh_admin_roles(self, admin_quality: str, why: str) -> Command:
        """Re-apply Administrator and Auditor trust policies (all accounts up to 2023.07)."""
        if self.version < V2023_08:
            return Command(("substrate", "create-admin-account", "-quality", admin_quality), why)
        return Command(("substrate", "setup"), why)

    def refresh_service_roles(
        self, domain: str, environment: str, quality: str, why: str
    ) -> Command | None:
        """Re-apply a service account's Auditor role (2023.08+; earlier covered by the above)."""
        if self.version < V2023_08:
            return None
        if self.version < V2024_01:
            return Command(
                (
                    "substrate", "create-account",
                    "-domain", domain, "-environment", environment, "-quality", quality,
                ),
                why,
            )  # fmt: skip
        return Command(
            (
                "substrate", "account", "update",
                "--domain", domain, "--environment", environment, "--quality", quality,
            ),
            why,
        )  # fmt: skip

    # -- role create / delete ------------------------------------------------------------

    def role_create(
        self,
        role: str,
        selection: Selection,
        assume_role_policies: Sequence[str],
        policy_arns: Sequence[str] = (),
        policy_files: Sequence[str] = (),
        why: str = "",
    ) -> Command:
        """`substrate role create` (2024.01+) or `substrate create-role` (2023.03-2023.12)."""
        if self.version < V2023_03:
            raise ValueError("Substrate releases before 2023.03 have no create-role")
        flag = self._flag
        argv: list[str] = ["substrate"]
        argv += ["role", "create"] if self.version >= V2024_01 else ["create-role"]
        argv += [flag("role"), role]
        for domain in selection.domains:
            argv += [flag("domain"), domain]
        for environment in selection.environments:
            argv += [flag("environment"), environment]
        for quality in selection.qualities:
            argv += [flag("quality"), quality]
        if selection.substrate:
            argv.append(flag("substrate") if self.version >= V2023_08 else flag("admin"))
        if selection.management:
            argv.append(flag("management"))
        for special in selection.specials:
            argv += [flag("special"), special]
        for filename in assume_role_policies:
            argv += [flag("assume-role-policy"), filename]
        legacy = self.version < V2023_05
        for arn in policy_arns:
            if arn == names.AWS_MANAGED_ADMINISTRATOR:
                argv.append(flag("administrator" if legacy else "administrator-access"))
            elif arn == names.AWS_MANAGED_READ_ONLY:
                argv.append(flag("read-only" if legacy else "read-only-access"))
            else:
                argv += [flag("policy-arn"), arn]
        for filename in policy_files:
            argv += [flag("policy"), filename]
        return Command(tuple(argv), why)

    def role_delete(self, role: str, why: str) -> Command:
        """`substrate role delete` (2024.01+) or `substrate delete-role` (2023.03-2023.12).

        No force flag: Substrate asks for confirmation per account, which is the point of
        having a human run revocations of roles that exist outside the repository.
        """
        if self.version < V2023_03:
            raise ValueError("Substrate releases before 2023.03 have no delete-role")
        if self.version >= V2024_01:
            return Command(("substrate", "role", "delete", "--role", role), why)
        return Command(("substrate", "delete-role", "-role", role), why)
