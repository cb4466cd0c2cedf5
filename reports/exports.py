"""PDF binders prepared by a worker: asked for on the Reports page, made by `report_export_task`,
downloaded by whoever asked, deleted by the hourly sweep after `PORTAL_EXPORT_KEEP_HOURS`.

A large organization's binder takes minutes to lay out (reports/pdf.py), longer than a web
request may last, so the page only asks. The worker renders into a temporary file and saves it
through Django's storage (where evidence files live) only once it is complete: nothing
half-written is ever offered. Progress is written after every part. Delivery is at least once
(acks_late): a redelivered task finds the export done and stops, or running and moving (another
worker has it) and stops, or running and still for `STALLED_AFTER` (its worker died) and starts
it again; the sweep fails an export that stopped moving and was never redelivered.
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
from django.db.models import Q
from django.utils import timezone

from reports.models import ReportExport
from reports.pdf import write_pdf
from reports.subprocessors import ReportParams, report_summary

log = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=15)
# Binders one user may have queued or being prepared at once: each holds a worker for minutes.
MAX_IN_PROGRESS = 3


class TooManyExports(Exception):
    """The user already has `MAX_IN_PROGRESS` binders on the way."""


def export_request(*, user: Any, params: ReportParams) -> ReportExport:
    """Records the request and queues the worker once the row is committed."""
    from reports.tasks import report_export_task

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
        transaction.on_commit(lambda: report_export_task.delay(export_id))
    return export


def exports_in_progress(user: Any) -> Any:
    return ReportExport.objects.filter(
        requested_by=user, status__in=[ReportExport.Status.QUEUED, ReportExport.Status.RUNNING]
    )


def export_run(*, export_id: str) -> None:
    """Renders the binder of export `export_id` and saves it; a failure is recorded on the
    export (with the error) for its page, not retried: the same data fails the same way."""
    if not _claim(export_id):
        return
    export = ReportExport.objects.get(pk=export_id)
    params = ReportParams(
        as_of=export.as_of,
        period_start=export.period_start,
        tier=export.tier,
        status=export.vendor_status,
    )
    try:
        summary = report_summary(params)
        _progress(export_id, f"Subprocessors: 0 of {summary.row_count:,} vendors")
        with tempfile.TemporaryFile() as out:
            pages = write_pdf(
                params, summary, out, on_progress=lambda text: _progress(export_id, text)
            )
            size = out.tell()
            out.seek(0)
            digest = hashlib.file_digest(out, "sha256").hexdigest()  # type: ignore[arg-type]
            out.seek(0)
            name = default_storage.save(f"exports/{export_id}.pdf", File(out))
    except Exception as exc:
        # Whatever went wrong ends on the export's page (and in the log), never half-saved.
        log.exception("PDF binder %s failed", export_id)
        ReportExport.objects.filter(pk=export_id).update(
            status=ReportExport.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:1000],
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return
    ReportExport.objects.filter(pk=export_id).update(
        status=ReportExport.Status.DONE,
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


def _claim(export_id: str) -> bool:
    """Marks the export running for this worker; False when it is gone, done, failed, or
    running and moving under another worker."""
    now = timezone.now()
    claimable = Q(status=ReportExport.Status.QUEUED) | Q(
        status=ReportExport.Status.RUNNING, updated_at__lt=now - STALLED_AFTER
    )
    claimed = ReportExport.objects.filter(claimable, pk=export_id).update(
        status=ReportExport.Status.RUNNING, progress="Starting", updated_at=now
    )
    return claimed == 1


def _progress(export_id: str, text: str) -> None:
    ReportExport.objects.filter(pk=export_id).update(progress=text[:200], updated_at=timezone.now())


def exports_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Deletes exports (and their files) older than `PORTAL_EXPORT_KEEP_HOURS` and fails the
    running ones that stopped moving. Returns (deleted, failed)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.PORTAL_EXPORT_KEEP_HOURS)
    deleted = 0
    for export in ReportExport.objects.filter(created_at__lt=cutoff).iterator():
        if export.file:
            export.file.delete(save=False)
        export.delete()
        deleted += 1
    failed = ReportExport.objects.filter(
        status=ReportExport.Status.RUNNING, updated_at__lt=now - STALLED_AFTER
    ).update(
        status=ReportExport.Status.FAILED,
        error="The worker preparing this binder stopped. Ask for it again.",
        finished_at=now,
        updated_at=now,
    )
    return deleted, failed
