"""Celery tasks that deliver notices (access requests, vendors, key recipient changes, external
access): one task per channel and audience.

A notice goes out as separate tasks (the requester's e-mail, security's e-mail, the Slack post)
so that each is retried on its own: a Slack outage never delays the e-mail, and a retry never
sends a channel again once it has succeeded. The arguments are ids, the event name and the
decision comment; nothing secret travels through the broker.

Delivery is at least once: a worker killed after the SMTP server accepted a message but before
the broker got the acknowledgement sends it again (acks_late). A duplicate notice is harmless;
a lost one is not.
"""

from __future__ import annotations

import smtplib
from typing import Any

from celery import shared_task

from notifications.services import (
    external_access_notice_send,
    external_access_slack_send,
    key_recipient_notice_send,
    key_recipient_slack_send,
    notice_email_send,
    notice_slack_send,
    vendor_notice_email_send,
    vendor_notice_slack_send,
)

# SMTPException and URLError are OSErrors already; listed for the reader. Backoff: about 1, 2,
# 4, 8 and 16 seconds with jitter, capped at 10 minutes, then the failure is logged.
RETRY_ON = (smtplib.SMTPException, OSError, ConnectionError)
NOTICE_TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": RETRY_ON,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**NOTICE_TASK_OPTIONS)
def notice_email_task(
    access_request_id: int,
    event: str,
    audience: str,
    actor_id: int | None = None,
    comment: str = "",
) -> None:
    """E-mails the notice for `event` to one audience ("requester" or "security")."""

    notice_email_send(
        access_request_id=access_request_id,
        event=event,
        audience=audience,
        actor_id=actor_id,
        comment=comment,
    )


@shared_task(**NOTICE_TASK_OPTIONS)
def notice_slack_task(
    access_request_id: int, event: str, actor_id: int | None = None, comment: str = ""
) -> None:
    """Posts the notice for `event` to the Slack incoming webhook, when one is configured."""

    notice_slack_send(
        access_request_id=access_request_id, event=event, actor_id=actor_id, comment=comment
    )


@shared_task(**NOTICE_TASK_OPTIONS)
def key_recipient_notice_task(change_id: int, audience: str) -> None:
    """E-mails the notice of a proposed key recipient change to one audience."""

    key_recipient_notice_send(change_id=change_id, audience=audience)


@shared_task(**NOTICE_TASK_OPTIONS)
def external_access_notice_task(count: int) -> None:
    """E-mails security that the external-access scan found new access nobody approved."""

    external_access_notice_send(count=count)


@shared_task(**NOTICE_TASK_OPTIONS)
def external_access_slack_task(count: int) -> None:
    """Posts security's external-access notice to Slack, when a webhook is configured."""

    external_access_slack_send(count=count)


@shared_task(**NOTICE_TASK_OPTIONS)
def key_recipient_slack_task(change_id: int) -> None:
    """Posts security's notice of a proposed key recipient change to Slack (no address)."""

    key_recipient_slack_send(change_id=change_id)


@shared_task(**NOTICE_TASK_OPTIONS)
def vendor_notice_email_task(
    vendor_id: int,
    event: str,
    audience: str,
    actor_id: int | None = None,
    comment: str = "",
    extra: dict[str, str] | None = None,
) -> None:
    """E-mails the vendor notice for `event` to one audience ("owner" or "security")."""

    vendor_notice_email_send(
        vendor_id=vendor_id,
        event=event,
        audience=audience,
        actor_id=actor_id,
        comment=comment,
        extra=extra,
    )


@shared_task(**NOTICE_TASK_OPTIONS)
def vendor_notice_slack_task(
    vendor_id: int,
    event: str,
    actor_id: int | None = None,
    comment: str = "",
    extra: dict[str, str] | None = None,
) -> None:
    """Posts the vendor notice for `event` to Slack, when a webhook is configured."""

    vendor_notice_slack_send(
        vendor_id=vendor_id, event=event, actor_id=actor_id, comment=comment, extra=extra
    )
