"""The workflow's models: the AWS account inventory, access requests and the audit log."""

from approvals.models.accounts import AccountSyncRun, AwsAccount
from approvals.models.audit import (
    ACTION_MAX_LENGTH,
    ACTION_PATTERN,
    GENESIS_HASH,
    HASHED_FIELDS,
    OBJECT_REPR_MAX_LENGTH,
    AuditChainHead,
    AuditEvent,
    AuditEventQuerySet,
    AuditLogAppendOnlyError,
    audit_event_hash,
)
from approvals.models.keys import AccessKey, KeyDelivery
from approvals.models.pullrequests import PullRequest, PullRequestModelStore
from approvals.models.requests import (
    TRANSITIONS,
    AccessRequest,
    Approval,
    ExtensionApproval,
    Strategy,
)
from approvals.models.webhooks import WebhookDelivery

__all__ = [
    "ACTION_MAX_LENGTH",
    "ACTION_PATTERN",
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "OBJECT_REPR_MAX_LENGTH",
    "TRANSITIONS",
    "AccessKey",
    "AccessRequest",
    "AccountSyncRun",
    "Approval",
    "AuditChainHead",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditLogAppendOnlyError",
    "AwsAccount",
    "ExtensionApproval",
    "KeyDelivery",
    "PullRequest",
    "PullRequestModelStore",
    "Strategy",
    "WebhookDelivery",
    "audit_event_hash",
]
