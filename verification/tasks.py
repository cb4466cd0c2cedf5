"""Verification tasks: thin and idempotent; arguments are ids, results are nothing.

An account that throttles or does not answer is part of the verdict (reported per account,
never guessed), so these tasks do not retry on AWS errors: the next trigger or the beat's
pass reads again.
"""

from __future__ import annotations

from celery import shared_task

from verification import findings, grants


@shared_task(acks_late=True, ignore_result=True)
def grants_verify_run_task(run_id: int) -> None:
    """Carries out a queued "Verify in AWS now" run (no-op once it finished)."""
    grants.grants_verify_run(run_id)


@shared_task(acks_late=True, ignore_result=True)
def grant_verify_task(access_request_id: int, trigger: str = "") -> None:
    """Verifies one request's grant after its merge, its commands or its removal's merge."""
    grants.grants_verify_after(access_request_id, trigger=trigger)


@shared_task(acks_late=True, ignore_result=True)
def grants_verify_task() -> None:
    """The beat's pass over every merged grant, then the idle flag."""
    grants.grants_verify_scheduled()


@shared_task(acks_late=True, ignore_result=True)
def external_access_scan_run_task(run_id: int) -> None:
    """Carries out a queued "Scan now" (no-op once it finished)."""
    findings.external_access_scan_run(run_id)


@shared_task(acks_late=True, ignore_result=True)
def external_access_scan_task() -> None:
    """The beat's scan of every account for vendor access nobody approved."""
    findings.external_access_scan_scheduled()
