"""Vendor tasks: thin and idempotent; they call the services."""

from __future__ import annotations

from celery import shared_task

from vendors.reminders import reviews_remind


@shared_task(acks_late=True, ignore_result=True)
def reviews_remind_task() -> None:
    """Reminds the owner and security of reviews falling due or overdue (once per date)."""

    reviews_remind()
