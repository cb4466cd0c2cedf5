"""Re-certification tasks: thin and idempotent (the services return early for work done)."""

from __future__ import annotations

from celery import shared_task

from recertification import services


@shared_task(acks_late=True, ignore_result=True)
def campaigns_cadence_task() -> None:
    """The beat's daily pass: a campaign per vendor whose grants are due by its tier."""
    services.campaigns_cadence()


@shared_task(acks_late=True, ignore_result=True)
def campaigns_sweep_task() -> None:
    """The beat's hourly pass: warnings before each deadline, revocations after it."""
    services.campaigns_sweep()
