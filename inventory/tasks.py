"""The inventory's task: thin and idempotent, it calls the account sync."""

from __future__ import annotations

from celery import shared_task

from inventory.services import accounts_sync


@shared_task(acks_late=True, ignore_result=True)
def accounts_sync_task(run_id: int | None = None) -> None:
    """Runs the account sync: the queued run `run_id` ("Sync now"), or a new one (beat).

    A duplicate message for a finished run is a no-op. An AWS failure is recorded on the run
    rather than retried here: the next scheduled sync is the retry.
    """

    accounts_sync(run_id=run_id)
