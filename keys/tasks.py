"""Access key tasks: thin and idempotent; arguments are ids, results are nothing.

No secret ever travels through the broker: the key's secret is encrypted by the task that
created it, and the one-time link's token is made by the task that e-mails it. Temporary AWS
errors (throttling, 5xx, no answer) are retried with exponential backoff, on top of boto3's own
retries; once the retries are spent the key fails with the last error. The periodic tasks
retry by running again.
"""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task
from django.db import DatabaseError

from fulfilment.tasks import retry_countdown
from keys.services import (
    AccessKeyTemporaryError,
    access_key_issue,
    access_key_issue_give_up,
    access_key_link_send,
    access_key_reissue_continue,
    access_keys_deactivate_for_request,
    access_keys_delete_for_request,
    access_keys_hygiene,
    access_keys_issue_due,
    access_keys_sweep,
    key_deliveries_release,
)

MAX_RETRIES = 5


def _retry_or_give_up(task: Any, exc: Exception, give_up: Any) -> None:
    if task.request.retries >= task.max_retries:
        give_up(str(exc))
        return
    raise task.retry(exc=exc, countdown=retry_countdown(exc, task.request.retries)) from None


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def access_key_issue_task(self: Any, access_request_id: int) -> None:
    """Issues the key of IAM-user grant `access_request_id` (no-op once issued)."""

    try:
        access_key_issue(request_id=access_request_id)
    except AccessKeyTemporaryError as exc:
        _retry_or_give_up(
            self,
            exc,
            lambda m: access_key_issue_give_up(request_id=access_request_id, message=m),
        )


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def access_key_reissue_task(self: Any, access_request_id: int) -> None:
    """Deletes the keys a re-issue superseded, then issues the new one."""

    try:
        access_key_reissue_continue(request_id=access_request_id)
    except AccessKeyTemporaryError as exc:
        _retry_or_give_up(
            self,
            exc,
            lambda m: access_key_issue_give_up(request_id=access_request_id, message=m),
        )


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def access_key_link_send_task(delivery_id: int) -> None:
    """E-mails the one-time link of delivery `delivery_id` (no-op once sent)."""

    access_key_link_send(delivery_id=delivery_id)


@shared_task(
    acks_late=True,
    ignore_result=True,
    # A deadlock or lost connection: the links are still held, a retry releases them.
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def key_deliveries_release_task(vendor_id: int) -> None:
    """After security decided a key recipient change: sends the links held meanwhile."""

    key_deliveries_release(vendor_id=vendor_id)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def access_keys_deactivate_task(self: Any, access_request_id: int) -> None:
    """Revocation: deactivates the request's keys at once (the sweep retries past the end)."""

    try:
        access_keys_deactivate_for_request(request_id=access_request_id)
    except AccessKeyTemporaryError as exc:
        _retry_or_give_up(self, exc, lambda m: None)


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES)
def access_keys_delete_task(self: Any, access_request_id: int) -> None:
    """After the revocation pull request merged: deletes the request's keys from AWS."""

    try:
        access_keys_delete_for_request(request_id=access_request_id)
    except AccessKeyTemporaryError as exc:
        _retry_or_give_up(self, exc, lambda m: None)


@shared_task(acks_late=True, ignore_result=True)
def access_keys_issue_due_task() -> None:
    """Beat, every minute: issues keys for live IAM-user grants whose IAM user now exists."""

    access_keys_issue_due()


@shared_task(acks_late=True, ignore_result=True)
def access_keys_sweep_task() -> None:
    """Beat, every few minutes: expired links wiped, keys that must not work deactivated."""

    access_keys_sweep()


@shared_task(acks_late=True, ignore_result=True)
def access_keys_hygiene_task() -> None:
    """Beat: last use, rotation and the unused flag."""

    access_keys_hygiene()
