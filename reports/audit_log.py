"""The audit log page's reads: filtered in the database, paged by sequence (no COUNT over the
whole log), and a quick check of the rows shown and of the chain head.

The full chain walk reads every row, so it runs from `manage.py verify_audit_log` (or on the
exported file), never on a page load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditChainHead, AuditEvent, audit_event_hash

PAGE_SIZE = 50


@dataclass(frozen=True)
class LogFilters:
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None


def audit_log_events(filters: LogFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.object_id:
        events = events.filter(object_id=filters.object_id)
    if filters.actor:
        events = events.filter(actor_username=filters.actor)
    if filters.since:
        events = events.filter(
            created_at__gte=timezone.make_aware(datetime.combine(filters.since, time.min))
        )
    if filters.until:
        events = events.filter(
            created_at__lte=timezone.make_aware(datetime.combine(filters.until, time.max))
        )
    return events


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass
class LogPage:
    events: list[dict[str, Any]]
    older_than: int | None
    head: AuditChainHead | None
    head_matches_latest: bool | None


def audit_log_page(filters: LogFilters, *, before: int | None = None) -> LogPage:
    """Newest first, `PAGE_SIZE` events older than sequence `before`; each event marked with
    whether its stored hash still matches its content."""
    events = audit_log_events(filters)
    if before:
        events = events.filter(sequence__lt=before)
    rows = list(events.order_by("-sequence")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    latest = AuditEvent.objects.order_by("-sequence").first()
    matches = None
    if head is not None and latest is not None:
        matches = (latest.sequence, latest.hash) == (head.sequence, head.hash) and (
            audit_event_hash(latest.hashed_fields()) == latest.hash
        )
    return LogPage(
        events=[
            {
                "event": event,
                "intact": audit_event_hash(event.hashed_fields()) == event.hash,
                "before": _pretty(event.before),
                "after": _pretty(event.after),
            }
            for event in rows
        ],
        older_than=rows[-1].sequence if more and rows else None,
        head=head,
        head_matches_latest=matches,
    )
