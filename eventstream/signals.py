"""A new audit row schedules a delivery pass once its transaction commits."""

from __future__ import annotations

from typing import Any

from accessportal.effects import enqueue_on_commit
from eventstream.models import EventEndpoint

DELIVER_TASK = "eventstream.tasks.deliver_events"


def audit_event_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, **_: Any
) -> None:
    """Queues `deliver_events` after the commit of the transaction that wrote the event.

    Every audited change of the portal passes here, so with no active endpoint this costs one
    indexed query and nothing is queued. The pass itself never writes an audit row per event,
    so the stream does not feed itself.
    """
    if not created or raw:
        return
    if EventEndpoint.objects.filter(active=True).exists():
        enqueue_on_commit(DELIVER_TASK)
