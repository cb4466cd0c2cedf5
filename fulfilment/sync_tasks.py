"""The pull request polling task (beat, every 5 minutes): the fallback for missed webhooks."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def pull_requests_sync_task() -> None:
    """Applies the forge's state of every open pull request; a duplicate run is a no-op."""
    from fulfilment.sync import pull_requests_sync  # keeps worker start-up free of models

    pull_requests_sync()
