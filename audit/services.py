"""The audit log's service API: record an event, snapshot a model, verify the chain.

Every part of the portal records its state transitions here (STYLE.md example 3):

    @transaction.atomic
    def vendor_offboard(*, vendor: Vendor, actor: User) -> Vendor:
        before = audit_snapshot(vendor, ["status"])
        vendor.status = Vendor.Status.OFFBOARDED
        vendor.save(update_fields=["status"])
        audit_record(actor=actor, action="vendor.offboard", obj=vendor,
                     before=before, after=audit_snapshot(vendor, ["status"]))
        return vendor

`audit_record` locks the chain head until the caller's transaction ends, so every audited
transaction is serialised at that point: call it last, after the business rows are locked and
written, and keep slow work (network, Celery) out of the transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.duration import duration_iso_string
from django.utils.functional import Promise

from accessportal.client_ip import normalize_ip
from audit.models import (
    ACTION_MAX_LENGTH,
    ACTION_PATTERN,
    GENESIS_HASH,
    HASHED_FIELDS,
    OBJECT_REPR_MAX_LENGTH,
    AuditChainHead,
    AuditEvent,
    audit_event_hash,
)

VERIFY_CHUNK_SIZE = 2000
# PostgreSQL text and jsonb cannot hold U+0000; it is replaced rather than failing the
# business transaction that is being audited.
_NUL_REPLACEMENT = "\ufffd"

# The client address of the request (or task) being served; set by AuditContextMiddleware.
_source_ip: ContextVar[str | None] = ContextVar("audit_source_ip", default=None)


class AuditChainError(Exception):
    """The chain cannot be extended safely (its head is missing while events exist)."""


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of walking the chain: intact, or where and why it first breaks."""

    ok: bool
    checked: int
    first_broken_sequence: int | None = None
    reason: str | None = None
    # The hash of the last event checked: worth recording outside the database, because an
    # attacker who rewrites the tail and the chain head together leaves a consistent chain.
    last_hash: str | None = None


# --- Request context --------------------------------------------------------------------------


def current_source_ip() -> str | None:
    """The client address of the request being served, if any."""
    return _source_ip.get()


@contextlib.contextmanager
def audit_context(*, source_ip: str | None) -> Iterator[None]:
    """Attributes events recorded inside the block to `source_ip` (requests, tasks)."""
    token = _source_ip.set(normalize_ip(source_ip))
    try:
        yield
    finally:
        _source_ip.reset(token)


# --- JSON-safe values -------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    return str.__str__(value).replace("\x00", _NUL_REPLACEMENT)


def _json_safe(value: Any) -> Any:
    """Converts `value` into plain JSON types that survive a round trip through the database.

    Anything a JSON column would reformat becomes a string here, before hashing: PostgreSQL's
    jsonb prints numbers in its own way (the float 1e16 comes back as 10000000000000000), so
    floats are stored as their repr, like Decimals. Bytes are never copied into the log, which
    cannot be redacted later (they may be key ciphertext): only their length is.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _json_safe(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_iso_string(value)
    if isinstance(value, uuid.UUID | ipaddress.IPv4Address | ipaddress.IPv6Address | PurePath):
        return str(value)
    if isinstance(value, Promise):  # lazy translations
        return _clean_text(str(value))
    if isinstance(value, FieldFile):
        return _clean_text(value.name or "")
    if isinstance(value, models.Model):
        return f"{audit_object_type(value)}:{value.pk}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, Enum):
                key = key.value
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"audit data keys must be strings, not {type(key).__name__}")
            name = _clean_text(key) if isinstance(key, str) else str(key)
            if name in result:
                raise ValueError(f"audit data has two keys that both read {name!r}")
            result[name] = _json_safe(item)
        return result
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, set | frozenset):
        # Sorted so that the same set is always stored (and diffed) the same way.
        return sorted(
            (_json_safe(item) for item in value),
            key=lambda item: json.dumps(item, sort_keys=True, ensure_ascii=False),
        )
    raise TypeError(f"cannot record a {type(value).__name__} in the audit log")


def _json_safe_dict(value: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"audit {name} must be a dict or None, not {type(value).__name__}")
    result: dict[str, Any] = _json_safe(value)
    return result


def audit_snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe dict of `obj`'s concrete fields (foreign keys as ids), for before/after.

    `fields` names the fields to keep (by name or attname); by default every concrete field
    except a password hash. Keys are attnames, so a foreign key reads `vendor_id`.
    """
    concrete = list(obj._meta.concrete_fields)
    if fields is None:
        chosen = [f for f in concrete if f.name != "password"]
    else:
        by_name = {f.name: f for f in concrete} | {f.attname: f for f in concrete}
        unknown = [name for name in fields if name not in by_name]
        if unknown:
            raise ValueError(f"{obj._meta.label} has no concrete field(s) {unknown}")
        chosen = [by_name[name] for name in fields]
    raw = {field.attname: field.value_from_object(obj) for field in chosen}
    snapshot: dict[str, Any] = _json_safe(raw)
    return snapshot


# --- Writing ----------------------------------------------------------------------------------


def _locked_head() -> AuditChainHead:
    """Locks and returns the chain head; recreates it only for an empty log.

    Migration 0002 creates the row. An empty database without it is one that was flushed (as
    the test runner does between transactional tests); a non-empty log without it has been
    tampered with, and writing on would hide that, so the write fails.
    """
    heads = AuditChainHead.objects.select_for_update()
    head = heads.filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is not None:
        return head
    if AuditEvent.objects.exists():
        raise AuditChainError(
            "the audit chain head is missing but the log is not empty; "
            "run `manage.py verify_audit_log` and investigate before writing again"
        )
    AuditChainHead.objects.get_or_create(pk=AuditChainHead.SINGLETON_ID)
    return heads.get(pk=AuditChainHead.SINGLETON_ID)


def audited_as_snapshots(
    obj: models.Model,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    before: dict[str, Any],
) -> Callable[[str, str], None]:
    """A lifecycle move's `on_change` that records `action` on `obj` with the whole row before
    (`before`, taken by the caller ahead of its changes) and after the move."""

    def record(_before_state: str, _after_state: str) -> None:
        audit_record(actor=actor, action=action, obj=obj, before=before, after=audit_snapshot(obj))

    return record


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    obj: models.Model | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    object_repr: str | None = None,
    source_ip: str | None = None,
) -> AuditEvent:
    """Appends one event to the audit log, inside the caller's transaction.

    `actor` is a user, or None / AnonymousUser for the system (tasks, migrations). `obj` is the
    saved model instance the event is about. `before` / `after` are dicts (usually from
    `audit_snapshot`) and are stored in JSON-safe form. `source_ip` defaults to the address of
    the request being served (`AuditContextMiddleware`).

    The chain head stays locked until the caller's transaction ends; if that transaction rolls
    back, the event and its sequence number go with it, so the sequence has no gaps.
    """
    if not isinstance(action, str) or not ACTION_PATTERN.fullmatch(action):
        raise ValueError(f"audit action {action!r} is not a dotted name such as vendor.create")
    if len(action) > ACTION_MAX_LENGTH:
        raise ValueError(f"audit action {action!r} is too long")
    if isinstance(actor, AnonymousUser):
        actor = None
    if actor is not None and actor.pk is None:
        raise ValueError("audit actor must be a saved user")
    if obj is not None and obj.pk is None:
        raise ValueError("audit events are recorded after the object is saved (it has no pk)")
    if source_ip is None:
        ip = current_source_ip()
    else:
        ip = normalize_ip(source_ip)
        if ip is None:
            raise ValueError(f"audit source_ip {source_ip!r} is not an IP address")
    if object_repr is None:
        object_repr = str(obj) if obj is not None else ""

    values: dict[str, Any] = {
        "actor_id": actor.pk if actor is not None else None,
        "actor_username": _clean_text(actor.get_username())[:255] if actor is not None else "",
        "source_ip": ip,
        "action": action,
        "object_type": audit_object_type(obj) if obj is not None else "",
        "object_id": _clean_text(str(obj.pk))[:255] if obj is not None else "",
        "object_repr": _clean_text(object_repr)[:OBJECT_REPR_MAX_LENGTH],
        "before": _json_safe_dict(before, "before"),
        "after": _json_safe_dict(after, "after"),
    }
    with transaction.atomic():
        head = _locked_head()
        # The time is taken under the lock, so created_at never decreases along the chain
        # (on one clock).
        values["sequence"] = head.sequence + 1
        values["created_at"] = timezone.now()
        values["prev_hash"] = head.hash
        event = AuditEvent(**values, hash=audit_event_hash(values))
        event.save()
        AuditChainHead.objects.filter(pk=head.pk).update(sequence=event.sequence, hash=event.hash)
    return event


def audit_object_type(obj: models.Model | type[models.Model]) -> str:
    """The name the log gives `obj`'s model: its label when its history began.

    Events are hash-chained and never rewritten, so a model that moved to another app keeps the
    label its first events were written under (its `audit_type`); its old and new events then
    read as one history.
    """
    return getattr(obj, "audit_type", "") or obj._meta.label_lower


# --- Reading ----------------------------------------------------------------------------------


def audit_events_for(obj: models.Model) -> models.QuerySet[AuditEvent]:
    """The events about `obj`, oldest first (its timeline)."""
    return AuditEvent.objects.filter(
        object_type=audit_object_type(obj), object_id=str(obj.pk)
    ).order_by("sequence")


def audit_verify() -> AuditVerification:
    """Walks the whole chain in sequence order and reports the first broken link.

    Reads in chunks, holding one previous hash, so memory stays constant at any log size.
    Detects a changed row (its hash no longer matches its content), a removed row (a gap in
    the sequence), a moved or re-hashed row (prev_hash not matching the previous hash), and
    removed tail rows (the log ending before the chain head).
    """
    # The head is read first: events committed while the walk runs are then past the head
    # and are not mistaken for an inconsistency.
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    rows = (
        AuditEvent.objects.order_by("sequence")
        .values_list(*HASHED_FIELDS, "hash")
        .iterator(chunk_size=VERIFY_CHUNK_SIZE)
    )
    checked = 0
    prev_sequence = 0
    prev_hash = GENESIS_HASH
    hash_at_head: str | None = None
    for row in rows:
        fields = dict(zip(HASHED_FIELDS, row[:-1], strict=True))
        stored_hash = row[-1]
        sequence = fields["sequence"]
        if sequence != prev_sequence + 1:
            if prev_sequence:
                where = f"{prev_sequence} followed by {sequence}"
            else:
                where = f"the log starts at {sequence}"
            return _broken(checked, prev_sequence + 1, f"sequence gap: {where} (row removed)")
        if audit_event_hash(fields) != stored_hash:
            return _broken(checked, sequence, f"hash mismatch at sequence {sequence} (row changed)")
        if fields["prev_hash"] != prev_hash:
            link = f"hash of {prev_sequence}" if prev_sequence else "the genesis hash"
            return _broken(
                checked, sequence, f"prev_hash of sequence {sequence} does not match {link}"
            )
        if head is not None and sequence == head.sequence:
            hash_at_head = stored_hash
        checked += 1
        prev_sequence, prev_hash = sequence, stored_hash

    if head is None:
        if checked:
            return _broken(
                checked,
                prev_sequence + 1,
                "the chain head is missing, so removal of the last events cannot be ruled out",
            )
        return AuditVerification(ok=True, checked=0)
    if prev_sequence < head.sequence:
        return _broken(
            checked,
            prev_sequence + 1,
            f"chain head says {head.sequence} events but the log ends at {prev_sequence} "
            "(tail removed)",
        )
    if hash_at_head != head.hash and head.sequence > 0:
        return _broken(
            checked,
            head.sequence,
            f"chain head hash does not match the hash of sequence {head.sequence}",
        )
    if prev_sequence > head.sequence:
        # Either writers appended during the walk, or rows were added behind the head's back.
        latest = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
        latest_sequence = latest.sequence if latest is not None else 0
        if latest_sequence < prev_sequence:
            return _broken(
                checked,
                latest_sequence + 1,
                f"the log runs to {prev_sequence} but the chain head says {latest_sequence} "
                "(rows added outside audit_record)",
            )
    return AuditVerification(ok=True, checked=checked, last_hash=prev_hash if checked else None)


def _broken(checked: int, sequence: int, reason: str) -> AuditVerification:
    return AuditVerification(
        ok=False, checked=checked, first_broken_sequence=sequence, reason=reason
    )
