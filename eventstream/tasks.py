"""The event stream's task: thin; the delivery pass is `eventstream.services.events_deliver`."""

from __future__ import annotations

from celery import shared_task

from eventstream import services


@shared_task(acks_late=True, ignore_result=True)
def deliver_events() -> None:
    """Sends what each active endpoint has not received yet, in order (queued after each
    audited commit, and every minute by the beat for the retries that fall due). Safe with
    several workers at once: each endpoint is worked by one of them at a time."""
    services.events_deliver()
