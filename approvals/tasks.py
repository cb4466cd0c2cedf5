"""Approvals tasks: thin and idempotent; they call the services."""

from __future__ import annotations

from celery import shared_task

from approvals.reminders import requests_remind


@shared_task(acks_late=True, ignore_result=True)
def requests_remind_task() -> None:
    """Lapses requests and extension asks nobody decided in time, and reminds the approvers
    of those still waiting (idempotent; safe with two workers)."""

    requests_remind()
