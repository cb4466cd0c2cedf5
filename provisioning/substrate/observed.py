"""What a reader saw in AWS: the IAM roles and users of one account, or why it could not look.

These dataclasses are the shared contract between the AWS reader (provisioning.aws, which
fills them from IAM) and the pure comparison (provisioning.substrate.verify, which holds
them against what an approved grant should have put there). They carry data only, so the
change-set generator's package can hold them without importing boto3 or Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ObservedRole:
    """An IAM role as read from one account (None fields: the role does not exist)."""

    account_id: str
    name: str
    exists: bool
    trust_policy: dict[str, Any] | None = None  # the decoded AssumeRolePolicyDocument
    attached_policy_arns: frozenset[str] = frozenset()
    # name -> document
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    last_used_at: datetime | None = None  # RoleLastUsed.LastUsedDate
    last_used_region: str = ""
    tags: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ObservedUser:
    account_id: str
    name: str
    exists: bool
    inline_policies: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    attached_policy_arns: frozenset[str] = frozenset()
    access_key_ids: frozenset[str] = frozenset()  # ids only, never secrets
    tags: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class AccountUnreadable:
    """Why one account could not be read: never guessed as present or absent."""

    account_id: str
    reason: str  # one of "access_denied", "throttled", "unreachable", "error"
    message: str  # safe to show (no credentials), e.g. the AWS error code and operation
