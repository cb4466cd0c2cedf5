"""Read-side queries for the dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accessportal.models import WorkerHeartbeat


def worker_heartbeat_latest() -> WorkerHeartbeat | None:
    """The most recent heartbeat of any worker, or None if none ever ran."""
    return WorkerHeartbeat.objects.order_by("-last_seen").first()


def worker_is_alive(heartbeat: WorkerHeartbeat | None) -> bool:
    """A worker counts as alive if it beat within three heartbeat intervals."""
    if heartbeat is None:
        return False
    allowed = timedelta(seconds=3 * settings.PORTAL_HEARTBEAT_SECONDS)
    return timezone.now() - heartbeat.last_seen <= allowed
