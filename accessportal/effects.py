"""The on-commit effects of the workflow: Celery tasks named, and notices announced.

Every app schedules the work that follows a change the same way: after its transaction
commits, one robust callback per task (a broker that is down, or an eager task whose retries
ran out, is logged and never raised into the committed caller, and never stops the other
callbacks). Tasks are named by their dotted path ("fulfilment.tasks.provision_access_task")
and imported when the callback runs, so an app can schedule the work of an app above it
without importing it: the arrows between apps point downward only (README "Architecture").
Work that must not be lost is also picked up by a periodic sweep (fulfilment's poll, the key
sweeps, the expiry sweep), so a lost message delays it rather than dropping it.

Notices are events: `notify_on_commit(event=...)` names one of `NOTICES`, and the
notifications app's tasks render and send it (e-mail per audience, and Slack when set up).
A vendor's own events (its reviews: a review is not an access request) go the same way through
`notify_vendor_on_commit(event=...)` and `VENDOR_NOTICES`.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

NOTICE_EMAIL_TASK = "notifications.tasks.notice_email_task"
NOTICE_SLACK_TASK = "notifications.tasks.notice_slack_task"
KEY_RECIPIENT_NOTICE_TASK = "notifications.tasks.key_recipient_notice_task"
KEY_RECIPIENT_SLACK_TASK = "notifications.tasks.key_recipient_slack_task"
EXTERNAL_ACCESS_NOTICE_TASK = "notifications.tasks.external_access_notice_task"
EXTERNAL_ACCESS_SLACK_TASK = "notifications.tasks.external_access_slack_task"
VENDOR_NOTICE_EMAIL_TASK = "notifications.tasks.vendor_notice_email_task"
VENDOR_NOTICE_SLACK_TASK = "notifications.tasks.vendor_notice_slack_task"

REQUESTER = "requester"
SECURITY = "security"
# The vendor's internal owner: who answers for the vendor (its reviews, and whether each of its
# grants is still needed when they are re-certified).
OWNER = "owner"
# Who may still approve a waiting decision under the approval rules (approvals/rules.py): a
# reminder goes to them, not to every member of the security team.
APPROVERS = "approvers"
AUDIENCES = (REQUESTER, SECURITY, OWNER, APPROVERS)


@dataclass(frozen=True)
class Notice:
    """Who hears about an event, and the words for it."""

    audiences: frozenset[str]
    summary: str  # completes "Request #12 for Orbit CI ..."


NOTICES: dict[str, Notice] = {
    "submitted": Notice(frozenset({SECURITY}), "submitted for approval"),
    "approval_recorded": Notice(frozenset({REQUESTER}), "received an approval"),
    "approved": Notice(frozenset({REQUESTER}), "approved"),
    "rejected": Notice(frozenset({REQUESTER}), "rejected"),
    "withdrawn": Notice(frozenset({SECURITY}), "withdrawn"),
    "revoked": Notice(frozenset({REQUESTER}), "revoked"),
    "provisioning": Notice(frozenset({REQUESTER}), "is being provisioned"),
    "pr_open": Notice(frozenset({REQUESTER}), "has its pull request open"),
    # A merge is what the repository holds: "verified" says when AWS holds it too.
    "active": Notice(frozenset({REQUESTER}), "has its change merged"),
    "failed": Notice(frozenset({REQUESTER, SECURITY}), "failed to provision"),
    "merge_mismatch": Notice(
        frozenset({SECURITY}), "was merged with a commit nobody approved: review it"
    ),
    # Access keys (keys/services.py): never the key id or secret, only that something happened.
    "key_failed": Notice(frozenset({SECURITY}), "could not get its access key"),
    "key_unused": Notice(frozenset({SECURITY}), "has an access key unused for too long"),
    "expiring": Notice(frozenset({REQUESTER}), "reaches its end date soon"),
    "revoke_failed": Notice(frozenset({SECURITY}), "needs help to be removed"),
    # Verification in AWS (verification/grants.py): what IAM holds, not what was merged.
    "verified": Notice(frozenset({REQUESTER}), "is verified active in AWS"),
    "drifted": Notice(frozenset({SECURITY}), "differs in AWS from what was approved"),
    "still_in_aws": Notice(
        frozenset({SECURITY}), "was removed in the repository, but AWS still has it"
    ),
    "cut_off": Notice(frozenset({SECURITY}), "was cut off in AWS in an emergency"),
    "grant_idle": Notice(frozenset({SECURITY}), "has not been used in AWS for too long"),
    # Extensions (approvals/decisions.py): the ask, and its outcome told to the requester.
    "extension_asked": Notice(frozenset({SECURITY}), "asks for a later end date"),
    "extension_granted": Notice(frozenset({REQUESTER}), "was extended"),
    "extension_refused": Notice(frozenset({REQUESTER}), "was not extended"),
    # The one-time key link (keys/services.py): that it went out, and that it was used; the
    # requester and security learn both, so a reveal nobody expected is seen at once.
    "key_delivered": Notice(
        frozenset({REQUESTER, SECURITY}), "had its access key link sent to the vendor"
    ),
    "key_revealed": Notice(
        frozenset({REQUESTER, SECURITY}), "had its access key shown to the vendor"
    ),
    # Nothing waits forever (approvals/reminders.py): a reminder, then the lapse.
    "pending_reminder": Notice(frozenset({APPROVERS}), "still awaits a decision"),
    "lapsed": Notice(frozenset({REQUESTER}), "lapsed: nobody decided in time"),
    "extension_reminder": Notice(
        frozenset({APPROVERS}), "still awaits a decision on its extension"
    ),
    "extension_lapsed": Notice(frozenset({REQUESTER}), "was not extended: nobody decided in time"),
    # Re-certification (recertification/services.py): the comment carries the deadline or the
    # note, never anything of the grant itself.
    "recert_asked": Notice(frozenset({OWNER, SECURITY}), "needs to be re-certified"),
    "recert_warning": Notice(frozenset({OWNER, SECURITY}), "is not re-certified yet"),
    "recert_revoked": Notice(
        frozenset({REQUESTER, OWNER, SECURITY}), "was revoked by its re-certification"
    ),
}

# A vendor's own events; the summary completes "Orbit CI ...".
VENDOR_NOTICES: dict[str, Notice] = {
    "review_decided": Notice(frozenset({OWNER, SECURITY}), "had its review decided"),
    "review_due": Notice(frozenset({OWNER, SECURITY}), "has its next review due"),
    "review_overdue": Notice(frozenset({OWNER, SECURITY}), "is overdue for the review due"),
}

# The recipient until now hears of it (a requester redirecting keys would otherwise go unseen),
# and security, who confirm or reject it.
PREVIOUS_CONTACT = "previous_contact"
KEY_RECIPIENT_AUDIENCES = (PREVIOUS_CONTACT, SECURITY)


def notify_key_recipient_change_on_commit(*, change_id: int) -> None:
    """Schedules the notices of a proposed key recipient change after the commit; never
    raises into the caller."""
    try:
        for audience in KEY_RECIPIENT_AUDIENCES:
            enqueue_on_commit(KEY_RECIPIENT_NOTICE_TASK, change_id, audience)
        if settings.PORTAL_SLACK_WEBHOOK_URL:  # security's channel; it names no address
            enqueue_on_commit(KEY_RECIPIENT_SLACK_TASK, change_id)
    except Exception:
        logger.exception("Could not schedule the notices of key recipient change #%s.", change_id)


def notify_external_access_on_commit(*, count: int) -> None:
    """Schedules security's notice that a scan found `count` outside principals nobody
    approved (e-mail, and Slack when set up) after the commit; never raises into the caller."""
    try:
        enqueue_on_commit(EXTERNAL_ACCESS_NOTICE_TASK, count)
        if settings.PORTAL_SLACK_WEBHOOK_URL:
            enqueue_on_commit(EXTERNAL_ACCESS_SLACK_TASK, count)
    except Exception:
        logger.exception("Could not schedule the external access notice.")


def notify_vendor_on_commit(
    *,
    vendor_id: int,
    event: str,
    actor_id: int | None = None,
    comment: str = "",
    extra: dict[str, str] | None = None,
) -> None:
    """Schedules the notices for the vendor event `event` (one of `VENDOR_NOTICES`) after the
    current transaction commits: one e-mail task per audience and one Slack task, each retried
    on its own. `extra` holds plain strings the template shows (a decision, a date), never a
    secret: it crosses the broker. Never raises into the caller."""
    _announce(
        VENDOR_NOTICES,
        kind="vendor notification",
        subject="vendor",
        subject_id=vendor_id,
        event=event,
        tasks=(VENDOR_NOTICE_EMAIL_TASK, VENDOR_NOTICE_SLACK_TASK),
        details=(actor_id, comment or "", {str(k): str(v) for k, v in (extra or {}).items()}),
    )


def notify_on_commit(
    *, access_request_id: int, event: str, actor_id: int | None = None, comment: str = ""
) -> None:
    """Schedules the notices for `event` after the current transaction commits; never raises
    into the caller (a broken mail server never blocks a transition)."""
    _announce(
        NOTICES,
        kind="notification",
        subject="request",
        subject_id=access_request_id,
        event=event,
        tasks=(NOTICE_EMAIL_TASK, NOTICE_SLACK_TASK),
        # A caller passing a model's null comment must not break the task.
        details=(actor_id, comment or ""),
    )


def _announce(
    notices: dict[str, Notice],
    *,
    kind: str,
    subject: str,
    subject_id: int,
    event: str,
    tasks: tuple[str, str],
    details: tuple[Any, ...],
) -> None:
    """The one way a notice is scheduled: an e-mail task per audience of `notices[event]`
    (arguments: the subject's id, the event, the audience, then `details`) and a Slack
    task when a webhook is set up (the same, without the audience). Never raises: a notice
    must never break the caller's change."""
    email_task, slack_task = tasks
    try:
        notice = notices.get(event)
        if notice is None:
            logger.warning(
                "Unknown %s event %r for %s #%s: nothing sent.", kind, event, subject, subject_id
            )
            return
        for audience in sorted(notice.audiences):
            enqueue_on_commit(email_task, subject_id, event, audience, *details)
        if settings.PORTAL_SLACK_WEBHOOK_URL:
            enqueue_on_commit(slack_task, subject_id, event, *details)
    except Exception:
        logger.exception("Could not schedule the %r notice for %s #%s.", event, subject, subject_id)


def enqueue_on_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queues the task `task_name` (its dotted path) with `args` once the current transaction
    commits (at once outside one). One callback per task, so failing to queue one does not
    stop the others; the failure is logged, never raised into the committed caller."""
    transaction.on_commit(functools.partial(_enqueue, task_name, args, kwargs), robust=True)


def enqueue_now(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queues the task `task_name` at once, for callers that hold no transaction whose commit
    the task must wait for (a sweep or a poll queueing follow-up work per row); a failure is
    logged and the caller goes on with the next row."""
    _enqueue(task_name, args, kwargs)


def task_named(task_name: str) -> Any:
    """The Celery task at the dotted path `task_name`, importing its module."""
    module, _, attribute = task_name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def _enqueue(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        task_named(task_name).delay(*args, **kwargs)
    except Exception:  # the transition has committed; a lost message is logged, not raised
        logger.exception("Could not queue %s for request #%s.", task_name, args[0] if args else "-")
