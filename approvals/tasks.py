"""Celery tasks of the workflow: thin, idempotent, taking ids and calling a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def accounts_sync_task(run_id: int | None = None) -> None:
    """Runs the account sync: the queued run `run_id` ("Sync now"), or a new one (beat).

    A duplicate message for a finished run is a no-op. An AWS failure is recorded on the run
    rather than retried here: the next scheduled sync is the retry.
    """
    from approvals.accounts import accounts_sync  # keeps worker start-up free of model imports

    accounts_sync(run_id=run_id)


# The worker imports each app's tasks module; the notice tasks live in their own module.
from approvals.fulfilment_tasks import (  # noqa: E402, F401
    provision_access_task,
    pull_request_regenerate_task,
    pull_request_status_task,
)
from approvals.key_tasks import (  # noqa: E402, F401
    access_key_issue_task,
    access_key_link_send_task,
    access_key_reissue_task,
    access_keys_deactivate_task,
    access_keys_delete_task,
    access_keys_hygiene_task,
    access_keys_issue_due_task,
    access_keys_sweep_task,
)
from approvals.notification_tasks import notice_email_task, notice_slack_task  # noqa: E402, F401
from approvals.pr_sync_tasks import pull_requests_sync_task  # noqa: E402, F401
from approvals.revocation_tasks import grants_expire_task, revoke_access_task  # noqa: E402, F401
