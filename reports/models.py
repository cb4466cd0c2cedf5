"""A PDF binder being prepared by a worker (reports/exports.py).

The rows it covers and the file it made are the only state: the report itself is always
rebuilt from the audit log for its as-of time, so deleting an export (the hourly sweep does
after `PORTAL_EXPORT_KEEP_HOURS`) loses nothing that cannot be made again.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import Lifecycle, choice_labels


class ReportExport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    # Random, so that one user's export address tells nothing about anyone else's.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_exports"
    )
    # The report's parameters, resolved when asked for: "as of now" stays the moment of asking.
    as_of = models.DateTimeField()
    period_start = models.DateField()
    tier = models.CharField(max_length=20, blank=True)
    vendor_status = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Which run of the export a worker is on (reports/exports.py): only that run may write.
    attempt = models.PositiveSmallIntegerField(default=0)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    file = models.FileField(upload_to="exports/", max_length=200, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    data_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Moved on by every progress step: a running export whose worker died stops moving.
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"PDF binder as of {self.as_of:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def in_progress(self) -> bool:
        return self.status in EXPORT_LIFECYCLE.group("in_progress")

    @property
    def filename(self) -> str:
        return f"subprocessors-{timezone.localtime(self.as_of):%Y-%m-%d}.pdf"


ExportStatus = ReportExport.Status
# Every move is a compare-and-set `.update()` in reports/exports.py, filtered on the table's
# sources of the target: a worker claims a queued export, or takes over a running one whose
# worker stopped moving (running -> running, a new attempt); the attempt ends done or failed,
# and the sweep fails what stalled or was never claimed. Nothing follows a move: the worker is
# queued when the export is created, before any move.
EXPORT_TRANSITIONS: dict[str, frozenset[str]] = {
    ExportStatus.QUEUED: frozenset({ExportStatus.RUNNING, ExportStatus.FAILED}),
    ExportStatus.RUNNING: frozenset({ExportStatus.RUNNING, ExportStatus.DONE, ExportStatus.FAILED}),
    ExportStatus.DONE: frozenset(),
    ExportStatus.FAILED: frozenset(),
}
EXPORT_LIFECYCLE = Lifecycle(
    field="status",
    table=EXPORT_TRANSITIONS,
    groups={
        # On the way: what counts against a user's `MAX_IN_PROGRESS`, and what its page polls.
        "in_progress": frozenset({ExportStatus.QUEUED, ExportStatus.RUNNING}),
        "finished": frozenset({ExportStatus.DONE, ExportStatus.FAILED}),
    },
    labels=choice_labels(ExportStatus.choices),
    subject=_("A PDF binder"),
)


@receiver(post_delete, sender=ReportExport)
def delete_export_file(sender: Any, instance: ReportExport, **kwargs: Any) -> None:
    """A deleted export takes its file along, whoever deletes it (the sweep, or the deletion
    of the user who asked for it). A file that cannot be deleted is logged, not raised: the
    row is gone either way."""
    if instance.file:
        try:
            instance.file.delete(save=False)
        except OSError:
            logging.getLogger(__name__).exception("Could not delete binder %s's file", instance.pk)
