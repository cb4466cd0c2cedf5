"""The generator's inputs (a `Grant`) and output (a `ChangeSet`), as frozen dataclasses.

A `Grant` validates itself on construction (see `names`), so every later stage can rely on
its values being safe for file names, HCL, JSON and shell commands. A `ChangeSet` is plain
data: files with their full new contents and the commands to run after merge.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import names
from .errors import GrantError


class Strategy(StrEnum):
    """The five ways of granting a vendor access (DESIGN.md section 1), best first."""

    ROLE_PER_ACCOUNT = "role_per_account"
    HUB_ROLE = "hub_role"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    IAM_USER = "iam_user"


class Dialect(StrEnum):
    """How the repository expresses roles: Terraform files (<= 2023.02) or `role create`."""

    TERRAFORM = "terraform"
    ROLE_CREATE = "role-create"


class AccountType(StrEnum):
    """Account kinds, as Substrate's `SubstrateType` tag names them (admin = legacy Substrate)."""

    SERVICE = "service"
    SUBSTRATE = "substrate"
    MANAGEMENT = "management"
    AUDIT = "audit"
    DEPLOY = "deploy"
    NETWORK = "network"


# Strategies whose trust policy names the vendor, and therefore carries the external id.
VENDOR_TRUST_STRATEGIES = frozenset(
    {Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.AUDITOR, Strategy.ADMINISTRATOR}
)


@dataclass(frozen=True)
class TargetAccount:
    """One AWS account the grant reaches, as the portal's inventory knows it."""

    id: str
    domain: str = ""
    environment: str = ""
    quality: str = ""
    type: AccountType = AccountType.SERVICE

    def __post_init__(self) -> None:
        names.account_id(self.id, "accounts.id")
        try:
            kind = AccountType("substrate" if self.type == "admin" else self.type)
        except ValueError as exc:
            raise GrantError("accounts.type", f"unknown account type {self.type!r}") from exc
        object.__setattr__(self, "type", kind)
        if kind is AccountType.SERVICE:
            for attr in ("domain", "environment", "quality"):
                names.dimension(getattr(self, attr), f"accounts.{attr}")
        elif kind is AccountType.SUBSTRATE and self.quality:
            names.dimension(self.quality, "accounts.quality")

    @property
    def key(self) -> tuple[str, str, str]:
        """(domain, environment, quality): the account's place in the repository."""
        return (self.domain, self.environment, self.quality)


def _str_tuple(field_name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise GrantError(field_name, "must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Grant:
    """One vendor's access, as approved: who is trusted, where, with which permissions.

    Values are validated on construction and never altered, with one documented exception:
    `description` is normalized to Unicode NFC (Terraform would do it anyway). Lists are
    stored as tuples; `inline_policy` is deep-copied so the caller cannot change it later.
    """

    vendor: str
    strategy: Strategy
    role_name: str
    principals: tuple[str, ...] = ()
    external_id: str | None = None
    accounts: tuple[TargetAccount, ...] = ()
    managed_policy_arns: tuple[str, ...] = ()
    inline_policy: dict[str, Any] | None = field(default=None, hash=False)
    request_id: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        names.vendor_slug(self.vendor)
        try:
            strategy = Strategy(self.strategy)
        except ValueError as exc:
            raise GrantError("strategy", f"unknown strategy {self.strategy!r}") from exc
        object.__setattr__(self, "strategy", strategy)
        names.role_name(self.role_name)
        if strategy is Strategy.HUB_ROLE:
            names.hub_role_name(self.role_name)

        principals = _str_tuple("principals", self.principals)
        # An account id and its root ARN are one principal for IAM.
        if len({names.canonical_principal(value) for value in principals}) != len(principals):
            raise GrantError("principals", "lists the same principal twice")
        object.__setattr__(self, "principals", principals)

        if strategy in VENDOR_TRUST_STRATEGIES:
            if not principals:
                raise GrantError("principals", "name at least one vendor principal")
            if self.external_id is None:
                raise GrantError("external_id", "is required for every vendor trust statement")
            names.external_id(self.external_id)
        else:  # IAM_USER: the portal's own IAM user is the only principal; nothing to trust.
            if principals:
                raise GrantError("principals", "the iam_user strategy trusts no vendor principal")
            if self.external_id is not None:
                raise GrantError("external_id", "the iam_user strategy has no trust statement")

        accounts = _str_tuple("accounts", self.accounts)
        for account in accounts:
            if not isinstance(account, TargetAccount):
                raise GrantError("accounts", "must be TargetAccount values")
        if len({a.id for a in accounts}) != len(accounts):  # type: ignore[attr-defined]
            raise GrantError("accounts", "lists the same account twice")
        object.__setattr__(self, "accounts", accounts)

        arns = names.policy_arns(_str_tuple("managed_policy_arns", self.managed_policy_arns))
        object.__setattr__(self, "managed_policy_arns", arns)

        if self.inline_policy is not None:
            object.__setattr__(self, "inline_policy", names.policy_document(self.inline_policy))
        names.request_id(self.request_id)
        object.__setattr__(self, "description", names.description(self.description))

        if strategy in (Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.IAM_USER):
            if not accounts:
                raise GrantError("accounts", "select at least one account")
            if not arns and self.inline_policy is None:
                raise GrantError(
                    "managed_policy_arns", "give managed policy ARNs or an inline policy"
                )
        # Auditor and Administrator reuse Substrate's roles, which exist in every account with
        # fixed permissions; accepting accounts or a policy would suggest a scoping that does
        # not happen.
        elif accounts:
            raise GrantError("accounts", f"the {strategy} strategy reaches every account")
        elif arns or self.inline_policy is not None:
            raise GrantError(
                "managed_policy_arns", f"the {strategy} strategy reuses Substrate's permissions"
            )

    def role_arn(self, account_id: str) -> str:
        """ARN of the grant's role (`role_name`) in account `account_id`."""
        return f"arn:aws:iam::{account_id}:role/{self.role_name}"

    @property
    def account_role_arns(self) -> tuple[str, ...]:
        """The grant's role in each target account: what the hub role or the IAM user
        assumes (role_per_account, hub_role and iam_user all create it there)."""
        return tuple(self.role_arn(account.id) for account in self.accounts)

    @property
    def hub_role_name(self) -> str:
        """Name of the hub role in the Substrate account (hub_role strategy)."""
        return f"{self.role_name}{names.HUB_SUFFIX}"

    @property
    def inline_policy_json(self) -> str | None:
        """The inline policy as the exact JSON text written to the repository."""
        if self.inline_policy is None:
            return None
        return json.dumps(self.inline_policy, indent=2) + "\n"

    def copy_inline_policy(self) -> dict[str, Any] | None:
        """A copy of the inline policy the caller may modify."""
        return copy.deepcopy(self.inline_policy)


class FileAction(StrEnum):
    """What happens to one file."""

    CREATE = "create"
    MODIFY = "modify"
    DELETE = "delete"


@dataclass(frozen=True)
class FileChange:
    """One file: its repository-relative POSIX path, the action and the full new content.

    `base_sha256` is the SHA-256 of the content the change was computed against (None for a
    new file), so applying the change to a tree that moved on in between fails loudly instead
    of overwriting someone else's edit.
    """

    path: str
    action: FileAction
    content: str | None = None
    base_sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.action is FileAction.DELETE) != (self.content is None):
            raise ValueError("a deletion has no content and every other change has one")
        if (self.action is FileAction.CREATE) != (self.base_sha256 is None):
            raise ValueError("only a created file has no base content")


def sha256_text(text: str) -> str:
    """SHA-256 of `text` encoded as UTF-8 (how files are written)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Command:
    """One command to run after merge: argv for programs, `shell` for humans and PR bodies."""

    argv: tuple[str, ...]
    why: str = ""

    @property
    def shell(self) -> str:
        """The command quoted for a POSIX shell."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class ChangeSet:
    """Files to create, modify or delete, and the ordered commands to run after merge.

    An empty change set (no files, no commands) means the repository already says what the
    grant (or its revocation) asks for. `warnings` are for reviewers; they never block.
    """

    vendor: str
    strategy: Strategy
    dialect: Dialect
    substrate_version: str
    revoke: bool
    files: tuple[FileChange, ...] = ()
    commands: tuple[Command, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when applying the change set would change nothing."""
        return not self.files and not self.commands

    @property
    def shell_script(self) -> str:
        """The commands as a POSIX shell script that stops at the first failure."""
        lines = ["set -e -u"]
        lines.extend(command.shell for command in self.commands)
        return "\n".join(lines) + "\n"

    def file(self, path: str) -> FileChange:
        """The change to `path` (KeyError if the change set does not touch it)."""
        for change in self.files:
            if change.path == path:
                return change
        raise KeyError(path)
