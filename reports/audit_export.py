"""The audit trail as CSV or JSON lines, streamed, with each event's hash.

Each exported event carries exactly the fields its hash covers, in the form the hash was
computed on, so `reports/verify_export.py` (standard library only) can recompute every hash
and check the chain offline.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from reports.cells import neutralise
from reports.verify_export import EXPORT_FIELDS

CHUNK_SIZE = 2000
FLUSH_BYTES = 64 * 1024
FORMATS = ("csv", "jsonl")


def audit_events_until(*, as_of: datetime, since: datetime | None = None) -> QuerySet[AuditEvent]:
    """The events recorded up to `as_of` (and from `since`), in chain order."""
    events = AuditEvent.objects.filter(created_at__lte=as_of)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events.order_by("sequence")


def _exported(values: tuple[Any, ...]) -> dict[str, Any]:
    event = dict(zip(EXPORT_FIELDS, values, strict=True))
    # The exact text `audit_event_hash` hashed: UTC, microseconds.
    event["created_at"] = event["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return event


def _rows(events: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    for values in events.values_list(*EXPORT_FIELDS).iterator(chunk_size=CHUNK_SIZE):
        yield _exported(values)


def _csv_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in ("before", "after"):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return neutralise(str(value))


def audit_chunks(events: QuerySet[AuditEvent], fmt: str) -> Iterator[str]:
    """The export as text chunks of about 64 kB."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fmt == "csv":
        writer.writerow(EXPORT_FIELDS)
    for event in _rows(events):
        if fmt == "csv":
            writer.writerow([_csv_text(name, event[name]) for name in EXPORT_FIELDS])
        else:
            buffer.write(json.dumps(event, sort_keys=True, ensure_ascii=False))
            buffer.write("\n")
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
