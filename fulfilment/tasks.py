"""Fulfilment's tasks: thin and idempotent, they take ids and call the services.

Remote git failures and temporary forge errors (5xx, rate limits) are retried with
exponential backoff, or after the forge's own `retry-after` hint when it gave one; once the
retries are spent the request fails with the last error, so nothing stays "provisioning"
for ever. Delivery is at least once (acks_late): a duplicate finds the branch and the pull
request the first run made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings

from fulfilment.revocation import grants_expire, request_revocation, request_revocation_give_up
from fulfilment.services import (
    pull_request_regenerate,
    pull_request_regenerate_give_up,
    pull_request_status_give_up,
    pull_request_status_post,
    request_provision,
    request_provision_give_up,
)
from fulfilment.sync import pull_requests_sync
from provisioning.forges import ForgeTemporaryError
from provisioning.gitrepo import GitRemoteError

MAX_RETRIES = 5
BACKOFF_MAX_SECONDS = 600


def retry_countdown(exc: BaseException, retries: int) -> float:
    """Seconds before the next attempt: the forge's hint, else PORTAL_TASK_RETRY_SECONDS
    (10 s by default) doubling, capped."""
    hint = getattr(exc, "retry_after", None)
    if hint is not None:
        return min(float(hint), BACKOFF_MAX_SECONDS)
    return float(min(settings.PORTAL_TASK_RETRY_SECONDS * 2**retries, BACKOFF_MAX_SECONDS))


def run_with_retries(task: Any, work: Callable[[], object], give_up: Callable[[str], None]) -> None:
    """Runs `work`; temporary errors retry `task` with backoff until its retries are spent,
    then `give_up` records the last error (shared by provisioning and revocation)."""
    try:
        work()
    except (GitRemoteError, ForgeTemporaryError) as exc:
        if task.request.retries >= task.max_retries:
            give_up(str(exc))
            return
        raise task.retry(exc=exc, countdown=retry_countdown(exc, task.request.retries)) from None


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def provision_access_task(self: Any, access_request_id: int) -> None:
    """Opens the pull request of approved request `access_request_id` (no-op once open)."""

    run_with_retries(
        self,
        lambda: request_provision(request_id=access_request_id),
        lambda message: request_provision_give_up(request_id=access_request_id, message=message),
    )


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def pull_request_regenerate_task(self: Any, pull_request_id: int, source: str = "poll") -> None:
    """Regenerates open pull request row `pull_request_id` on the new default-branch tip
    after the forge reported a conflict (a no-op once the branch is up to date)."""

    run_with_retries(
        self,
        lambda: pull_request_regenerate(pr_id=pull_request_id, source=source),
        lambda message: pull_request_regenerate_give_up(pr_id=pull_request_id, message=message),
    )


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def pull_request_status_task(self: Any, pull_request_id: int) -> None:
    """Sets the portal's approval status on the head of open pull request row
    `pull_request_id` (a no-op once that head has it)."""

    run_with_retries(
        self,
        lambda: pull_request_status_post(pr_id=pull_request_id),
        lambda message: pull_request_status_give_up(pr_id=pull_request_id, message=message),
    )


# --- Revocation: the removal pull request (same retries) and the daily expiry sweep (beat).


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def revoke_access_task(self: Any, access_request_id: int, retry: bool = False) -> None:
    """Opens the revocation pull request of revoked request `access_request_id` (no-op once
    open or merged); `retry` is security's explicit retry after a failure."""

    run_with_retries(
        self,
        lambda: request_revocation(request_id=access_request_id, retry=retry),
        lambda message: request_revocation_give_up(request_id=access_request_id, message=message),
    )


@shared_task(acks_late=True, ignore_result=True)
def grants_expire_task() -> None:
    """Moves grants near their end date to EXPIRING and revokes those past it (idempotent)."""

    grants_expire()


# --- The pull request poll (beat, every 5 minutes): the fallback for missed webhooks.


@shared_task(acks_late=True, ignore_result=True)
def pull_requests_sync_task() -> None:
    """Applies the forge's state of every open pull request; a duplicate run is a no-op."""

    pull_requests_sync()
