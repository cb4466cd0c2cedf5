"""The workflow's models. For now: the audit log that every part of the portal writes to.

The log is append-only and hash-chained (DESIGN.md section 5). Rows are written only by
`audit.services.audit_record`; this module refuses edits and deletions at the ORM level, and
migration 0003 refuses them again inside PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

GENESIS_HASH = "0" * 64
ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
ACTION_MAX_LENGTH = 100
OBJECT_REPR_MAX_LENGTH = 200

# The fields covered by an event's hash, in the order the docs list them. Adding a field to the
# model does not add it here: a new field is outside the chain until the hash format is
# versioned, because changing this tuple would make every existing row fail verification.
HASHED_FIELDS = (
    "sequence",
    "created_at",
    "actor_id",
    "actor_username",
    "source_ip",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "prev_hash",
)


class AuditLogAppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit event, or to bypass `audit_record`."""


def audit_event_hash(fields: dict[str, Any]) -> str:
    """Returns the SHA-256 (hex) of an event's canonical serialisation.

    `fields` holds exactly `HASHED_FIELDS`; `created_at` is an aware datetime and `before` /
    `after` are already JSON-safe (see `audit.services`), so the bytes hashed here are the
    values stored in the row. Used by the writer and by the verifier alike: there is one
    definition of the hash.
    """
    if set(fields) != set(HASHED_FIELDS):
        missing = sorted(set(HASHED_FIELDS) - set(fields))
        extra = sorted(set(fields) - set(HASHED_FIELDS))
        raise ValueError(f"audit hash fields mismatch: missing {missing}, unexpected {extra}")
    created_at = fields["created_at"]
    if not isinstance(created_at, datetime) or created_at.utcoffset() is None:
        raise ValueError("created_at must be a timezone-aware datetime")
    canonical = {
        **fields,
        # Always UTC with microseconds: the same instant must hash the same whatever the
        # session time zone the row was read in.
        "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    payload = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses bulk changes: the only way in is `audit_record`, and there is no way out."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogAppendOnlyError("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AuditLogAppendOnlyError("audit events cannot be deleted")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        # bulk_create skips save() and would insert rows outside the chain's lock.
        raise AuditLogAppendOnlyError("audit events are written one by one by audit_record()")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogAppendOnlyError("audit events cannot be updated")


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained audit log shared by the whole portal.

    Each row stores the hash of the previous row (`prev_hash`) and its own hash over its
    content (`hash`), so changing, removing or reordering a row breaks the chain where it
    happened (`audit_verify`, `manage.py verify_audit_log`). The actor is kept both as a
    protected foreign key and as text, so a row stays readable on its own.
    """

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.auditevent"

    sequence = models.PositiveBigIntegerField(unique=True)
    created_at = models.DateTimeField()
    # PROTECT, not SET_NULL: nulling the actor would rewrite history (and break the hash).
    # People who leave are deactivated, never deleted. The index is the (actor, sequence) one.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,
    )
    actor_username = models.CharField(max_length=255, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(
        max_length=ACTION_MAX_LENGTH,
        validators=[
            RegexValidator(ACTION_PATTERN, "Use a dotted lower-case action such as vendor.create.")
        ],
    )
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=255, blank=True)
    object_repr = models.CharField(max_length=OBJECT_REPR_MAX_LENGTH, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    # Unique through Meta.constraints: a field-level unique=True would add a LIKE index too.
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_auditevent"
        ordering = ["sequence"]
        indexes = [
            # Object timelines and per-person histories are read in chain order.
            models.Index(fields=["object_type", "object_id", "sequence"], name="audit_object_idx"),
            models.Index(fields=["actor", "sequence"], name="audit_actor_idx"),
            models.Index(fields=["action"], name="audit_action_idx"),
            models.Index(fields=["created_at"], name="audit_created_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["hash"], name="audit_hash_unique"),
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_sequence_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_repr}".rstrip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Inserts a new event whose hash matches its content; refuses to touch an existing one."""
        if not self._state.adding:
            raise AuditLogAppendOnlyError("audit events cannot be changed once written")
        if self.hash != audit_event_hash(self.hashed_fields()):
            raise AuditLogAppendOnlyError(
                "audit event hash does not match its content: write events with audit_record()"
            )
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogAppendOnlyError("audit events cannot be deleted")

    def hashed_fields(self) -> dict[str, Any]:
        """The values `audit_event_hash` covers, as stored in this row."""
        return {name: getattr(self, name) for name in HASHED_FIELDS}


class AuditChainHead(models.Model):
    """The last link of the audit chain: a single row holding the last sequence and hash.

    Every writer locks this row (`SELECT ... FOR UPDATE`) before appending, which serialises
    writers on PostgreSQL and SQLite alike, so the chain never forks and sequences have no gaps.
    It also lets verification notice events removed from the end of the log.
    """

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.auditchainhead"

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_auditchainhead"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_singleton"),
        ]

    def __str__(self) -> str:
        return f"audit chain head at {self.sequence}"
