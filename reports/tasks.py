"""Report tasks: thin; arguments are ids, results are nothing (reports/exports.py does the work)."""

from __future__ import annotations

from celery import shared_task

from reports.exports import export_run, exports_sweep


@shared_task(acks_late=True, ignore_result=True)
def report_export_task(export_id: str) -> None:
    """Prepares the PDF binder of export `export_id` (no-op once done or taken by another)."""

    export_run(export_id=export_id)


@shared_task(ignore_result=True)
def report_exports_sweep_task() -> None:
    """Deletes binders past their keeping time and fails the ones whose worker died."""

    exports_sweep()
