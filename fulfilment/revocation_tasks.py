"""Revocation tasks: the revocation pull request (same retry pattern as provisioning) and
the daily expiry sweep (beat). Thin: they take ids and call `fulfilment.revocation`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from fulfilment.tasks import MAX_RETRIES, run_with_retries


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def revoke_access_task(self: Any, access_request_id: int, retry: bool = False) -> None:
    """Opens the revocation pull request of revoked request `access_request_id` (no-op once
    open or merged); `retry` is security's explicit retry after a failure."""
    from fulfilment.revocation import request_revocation, request_revocation_give_up

    run_with_retries(
        self,
        lambda: request_revocation(request_id=access_request_id, retry=retry),
        lambda message: request_revocation_give_up(request_id=access_request_id, message=message),
    )


@shared_task(acks_late=True, ignore_result=True)
def grants_expire_task() -> None:
    """Moves grants near their end date to EXPIRING and revokes those past it (idempotent)."""
    from fulfilment.revocation import grants_expire

    grants_expire()
