"""PDF binders prepared by a worker: asked for on the Reports page, made by `report_export_task`,
downloaded by whoever asked, deleted by the sweep after `PORTAL_EXPORT_KEEP_HOURS`.

A large organization's binder takes minutes to lay out (reports/pdf.py), longer than a web
request may last, so the page only asks. The worker renders into a temporary file and saves it
through Django's storage (where evidence files live) only once it is complete: nothing
half-written is ever offered.

Each run of an export is an attempt, numbered when a worker claims it; the worker's progress,
its result and its failure are written only while the export is still running that attempt,
so a worker that lost its claim (the sweep failed it, or another delivery took it over) cannot
overwrite what the export says, and deletes the file it made. Delivery is at least once
(acks_late): a redelivered task finds the export done, failed or running and moving, and stops;
running and still for `STALLED_AFTER` (its worker died), it starts a new attempt, at most
`MAX_ATTEMPTS` in all (a binder that kills its worker does not do so for ever). The sweep, every
five minutes, fails what stopped moving or was never picked up.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accessportal.effects import task_named
from accessportal.lifecycle import claim
from reports.models import EXPORT_LIFECYCLE, ReportExport
from reports.pdf import write_pdf
from reports.subprocessors import ReportParams, report_summary

log = logging.getLogger(__name__)

Status = ReportExport.Status
STALLED_AFTER = timedelta(minutes=15)
# Queued and never picked up for this long: no worker reads the reports queue.
UNCLAIMED_AFTER = timedelta(hours=1)
MAX_ATTEMPTS = 2
# Binders one user may have queued or being prepared at once: each holds a worker for minutes.
MAX_IN_PROGRESS = 3
# What the page says of a failure: the details (which may name files or servers) go to the log.
FAILED_MESSAGE = "The binder could not be prepared (export {id}; the details are in the log)."


def _move(exports: QuerySet[ReportExport], to: str, **fields: Any) -> int:
    """`lifecycle.claim` on the export table: how many of `exports` moved to `to`."""
    return claim(exports, EXPORT_LIFECYCLE, to=to, **fields)


class TooManyExports(Exception):
    """The user already has `MAX_IN_PROGRESS` binders on the way."""


def export_request(*, user: Any, params: ReportParams) -> ReportExport:
    """Records the request and queues the worker once the row is committed."""
    with transaction.atomic():
        # Not locked: two requests at the same instant may make it one more, which is harmless.
        waiting = exports_in_progress(user).count()
        if waiting >= MAX_IN_PROGRESS:
            raise TooManyExports(
                f"You already have {waiting} PDF binders being prepared; "
                "wait for one to finish before asking for another."
            )
        export = ReportExport.objects.create(
            requested_by=user,
            as_of=params.as_of,
            period_start=params.period_start,
            tier=params.tier,
            vendor_status=params.status,
        )
        export_id = str(export.pk)
        transaction.on_commit(lambda: _enqueue(export_id))
    return export


def export_again(*, user: Any, export: ReportExport) -> ReportExport:
    """The same binder asked for again: the stored parameters, the as-of instant included."""
    return export_request(user=user, params=_params(export))


def _params(export: ReportExport) -> ReportParams:
    """The report an export is of, as it was asked for."""
    return ReportParams(
        as_of=export.as_of,
        period_start=export.period_start,
        tier=export.tier,
        status=export.vendor_status,
    )


def _enqueue(export_id: str) -> None:
    # By name, as every app queues its work (accessportal.effects); failing here is handled
    # rather than only logged, because the row would otherwise wait on its page for ever.
    try:
        task_named("reports.tasks.report_export_task").delay(export_id)
    except Exception:
        # The row is committed: an unreachable broker must end on its page, not in a 500.
        log.exception("Could not queue PDF binder %s", export_id)
        _move(
            ReportExport.objects.filter(pk=export_id, status=Status.QUEUED),
            Status.FAILED,
            error="The task queue could not be reached. Ask again in a moment.",
            finished_at=timezone.now(),
        )


def exports_in_progress(user: Any) -> Any:
    return ReportExport.objects.filter(
        requested_by=user, status__in=EXPORT_LIFECYCLE.group("in_progress")
    )


def export_run(*, export_id: str) -> None:
    """Renders the binder of export `export_id` and saves it; a failure is recorded on the
    export for its page, not retried: the same data fails the same way."""
    export = _claim(export_id)
    if export is None:
        return
    attempt = export.attempt
    running = ReportExport.objects.filter(pk=export_id, status=Status.RUNNING, attempt=attempt)
    if attempt > MAX_ATTEMPTS:
        _move(
            running,
            Status.FAILED,
            error="The worker preparing this binder stopped each time. Ask again, or filter "
            "the report (by tier) to make it smaller.",
            finished_at=timezone.now(),
        )
        return
    params = _params(export)

    def progress(text: str) -> None:
        running.update(progress=text[:200], updated_at=timezone.now())

    try:
        summary = report_summary(params)
        progress(f"Subprocessors: 0 of {summary.row_count:,} vendors")
        with tempfile.TemporaryFile() as out:
            pages = write_pdf(params, summary, out, on_progress=progress)
            size = out.tell()
            out.seek(0)
            digest = hashlib.file_digest(out, "sha256").hexdigest()  # type: ignore[arg-type]
            out.seek(0)
            name = default_storage.save(f"exports/{export_id}-{attempt}.pdf", File(out))
    except Exception:
        # Whatever went wrong ends on the export's page (and in the log), never half-saved.
        log.exception("PDF binder %s failed", export_id)
        _move(
            running,
            Status.FAILED,
            error=FAILED_MESSAGE.format(id=export_id),
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return
    finished = _move(
        running,
        Status.DONE,
        progress="",
        file=name,
        pages=pages,
        size=size,
        sha256=digest,
        row_count=summary.row_count,
        data_sha256=summary.data_sha256,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not finished:
        # The claim was lost meanwhile (failed by the sweep, or taken over): this file is no
        # export's, and nothing may point at it.
        default_storage.delete(name)


def _claim(export_id: str) -> ReportExport | None:
    """Starts a new attempt of the export for this worker and returns the export as claimed
    (its `attempt` numbered); None when the export is gone, done, failed, or running and
    moving under another worker."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING, updated_at__lt=now - STALLED_AFTER
    )
    with transaction.atomic():
        claimed = _move(
            ReportExport.objects.filter(claimable, pk=export_id),
            Status.RUNNING,
            attempt=F("attempt") + 1,
            progress="Starting",
            updated_at=now,
        )
        if not claimed:
            return None
        return ReportExport.objects.get(pk=export_id)


def exports_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Deletes exports (their files go with them: `models.delete_export_file`) older than
    `PORTAL_EXPORT_KEEP_HOURS`, and fails the running ones that stopped moving and the queued
    ones no worker picked up. Returns (deleted, failed)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.PORTAL_EXPORT_KEEP_HOURS)
    # Read first, then delete: deleting rows of a table being iterated is undefined on SQLite.
    old = list(ReportExport.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True))
    deleted = 0
    for pk in old:
        deleted += ReportExport.objects.filter(pk=pk).delete()[0]
    failed = _move(
        ReportExport.objects.filter(status=Status.RUNNING, updated_at__lt=now - STALLED_AFTER),
        Status.FAILED,
        error="The worker preparing this binder stopped. Ask again.",
        finished_at=now,
        updated_at=now,
    )
    failed += _move(
        ReportExport.objects.filter(status=Status.QUEUED, created_at__lt=now - UNCLAIMED_AFTER),
        Status.FAILED,
        error="No worker took this binder up within an hour: the reports worker may not be "
        "running. Tell the portal's operators, then ask again.",
        finished_at=now,
        updated_at=now,
    )
    return deleted, failed
