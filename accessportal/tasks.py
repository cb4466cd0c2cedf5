"""Project-wide Celery tasks."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from accessportal.effects import task_named
from accessportal.services import worker_heartbeat_record

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def worker_heartbeat_task(self) -> None:  # type: ignore[no-untyped-def]
    """Scheduled by beat: records that this worker is alive."""

    worker_heartbeat_record(hostname=self.request.hostname or "unknown")


# Task names before the apps were split by concept: a message queued by the previous release
# (a provisioning, a notice, a revocation) still carries its old name when the new workers
# start. Each old name is a task that re-queues the message under its new name, so an upgrade
# with a non-empty queue loses no work. Names only (the tasks are found by their dotted path
# when a message arrives), so this foundation module still imports no app above it.
LEGACY_TASK_NAMES: dict[str, str] = {
    **{
        f"approvals.fulfilment_tasks.{name}": f"fulfilment.tasks.{name}"
        for name in (
            "provision_access_task",
            "pull_request_regenerate_task",
            "pull_request_status_task",
        )
    },
    "approvals.pr_sync_tasks.pull_requests_sync_task": "fulfilment.tasks.pull_requests_sync_task",
    "approvals.revocation_tasks.revoke_access_task": "fulfilment.tasks.revoke_access_task",
    "approvals.revocation_tasks.grants_expire_task": "fulfilment.tasks.grants_expire_task",
    **{
        f"approvals.key_tasks.{name}": f"keys.tasks.{name}"
        for name in (
            "access_key_issue_task",
            "access_key_reissue_task",
            "access_keys_deactivate_task",
            "access_keys_delete_task",
            "access_keys_issue_due_task",
            "access_keys_sweep_task",
            "access_keys_hygiene_task",
        )
    },
    **{
        f"approvals.notification_tasks.{name}": f"notifications.tasks.{name}"
        for name in ("notice_email_task", "notice_slack_task", "key_recipient_notice_task")
    },
    "approvals.tasks.accounts_sync_task": "inventory.tasks.accounts_sync_task",
}


def _forwarder(old_name: str, new_name: str) -> Any:
    @shared_task(name=old_name, ignore_result=True)
    def forward(*args: Any, **kwargs: Any) -> None:
        logger.info("Task %s arrived under its old name; queued as %s.", old_name, new_name)
        task_named(new_name).delay(*args, **kwargs)

    return forward


LEGACY_FORWARDERS = {old: _forwarder(old, new) for old, new in LEGACY_TASK_NAMES.items()}
