"""Services for project-wide records."""

from __future__ import annotations

from django.utils import timezone

from accessportal.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Records that the worker `hostname` is alive now."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255], defaults={"last_seen": timezone.now()}
    )
    return heartbeat
