"""A binder's status moves only by compare-and-set updates filtered on the table's sources
(`reports.models.EXPORT_LIFECYCLE`): a finished export never moves again, whatever the
claim's own condition says."""

from __future__ import annotations

import pytest

from reports import exports
from reports.models import EXPORT_LIFECYCLE, ReportExport
from reports.subprocessors import report_params
from tests.reports.conftest import Org

pytestmark = pytest.mark.django_db

Status = ReportExport.Status


def _export(org: Org, status: str) -> ReportExport:
    params = report_params()
    return ReportExport.objects.create(
        requested_by=org.auditor,
        as_of=params.as_of,
        period_start=params.period_start,
        status=status,
    )


@pytest.mark.parametrize("to", [Status.RUNNING, Status.DONE, Status.FAILED])
@pytest.mark.parametrize("finished", [Status.DONE, Status.FAILED])
def test_a_finished_export_never_moves(org: Org, finished: str, to: str):
    export = _export(org, finished)
    assert exports._move(ReportExport.objects.filter(pk=export.pk), to, progress="x") == 0
    export.refresh_from_db()
    assert (export.status, export.progress) == (finished, "")


def test_a_move_the_table_allows_is_made(org: Org):
    export = _export(org, Status.QUEUED)
    assert exports._move(ReportExport.objects.filter(pk=export.pk), Status.RUNNING) == 1
    export.refresh_from_db()
    assert export.status == Status.RUNNING
    assert export.in_progress
    assert EXPORT_LIFECYCLE.group("in_progress") == {Status.QUEUED, Status.RUNNING}
