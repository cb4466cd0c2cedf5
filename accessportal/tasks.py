"""Project-wide Celery tasks."""

from __future__ import annotations

from celery import shared_task

from accessportal.services import worker_heartbeat_record


@shared_task(bind=True, ignore_result=True)
def worker_heartbeat_task(self) -> None:  # type: ignore[no-untyped-def]
    """Scheduled by beat: records that this worker is alive."""

    worker_heartbeat_record(hostname=self.request.hostname or "unknown")
