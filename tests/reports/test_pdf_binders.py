"""PDF binders (reports/pdf.py, reports/exports.py): rendered in parts that number on, asked for
on the Reports page, prepared by a worker, downloaded once ready by whoever asked."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader
from pypdf.generic import Destination

from reports import exports, pdf
from reports.exports import STALLED_AFTER, export_run, exports_sweep
from reports.models import ReportExport
from reports.subprocessors import Grant, report_params, report_summary
from tests.reports.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def outline(reader: PdfReader) -> list[tuple[str, int]]:
    """The binder's outline: (title, page index) of each top-level entry."""
    entries = []
    for item in reader.outline:
        assert isinstance(item, Destination), "the binder's outline has one level"
        index = reader.get_destination_page_number(item)
        assert index is not None
        entries.append((str(item.title), index))
    return entries


def _binder(params=None) -> PdfReader:  # type: ignore[no-untyped-def]
    params = params or report_params()
    out = io.BytesIO()
    pdf.write_pdf(params, report_summary(params), out)
    return PdfReader(io.BytesIO(out.getvalue()))


SECTIONS = [
    "Summary",
    "Subprocessors",
    "Appendix A - Approval trail",
    "Appendix B - Changes in the period",
    "Appendix C - Exceptions register",
]


def test_parts_number_their_pages_on_and_the_outline_finds_each_section(
    org: Org, monkeypatch, settings
):
    # A name that would end a CSS string and the style element if it were written as itself.
    settings.PORTAL_ORGANIZATION_NAME = 'Evil "Corp" </style><b>\\'
    whole = _binder()
    # One vendor and one appendix line per part: many small documents joined.
    monkeypatch.setattr(
        pdf, "ROWS_PER_PART", {"reports/pdf/vendors.html": 1, "reports/pdf/appendix.html": 1}
    )
    parts = _binder()
    assert len(parts.pages) > len(whole.pages)
    summary = report_summary(report_params())
    for index, page in enumerate(parts.pages):
        text = page.extract_text()
        numbers = re.findall(r"Page (\d+)", text)
        assert numbers == [str(index + 1)], f"page {index + 1} says {numbers}"
        # The footer on every page, the organization's name as it is.
        assert 'Evil "Corp" </style><b>\\ · subprocessor report as of' in text
        assert summary.data_sha256[:16] in text
    cover = " ".join(parts.pages[0].extract_text().split())
    assert f"Pages in this binder {len(parts.pages)}" in cover
    sections = outline(parts)
    assert [title for title, _index in sections] == SECTIONS
    assert [index for _title, index in sections] == sorted(index for _t, index in sections)
    for title, index in sections:
        heading = title if title != "Summary" else "Subprocessor report"
        assert heading in " ".join(parts.pages[index].extract_text().split())


def test_a_grant_is_one_line_with_long_account_lists_cut_to_a_count():
    ids = [f"1000000000{n:02d}" for n in range(6)]
    grant = Grant(
        pk=7,
        strategy="role_per_account",
        managed_policy_arns=[
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/Scanner",
        ],
        inline_policy=None,
        expires_then="2027-01-31",
        activated_at=timezone.now(),
        account_ids=list(reversed(ids)),
    )
    line = pdf._grant_line(grant, report_params())
    assert f"6 accounts: {', '.join(ids[:4])} and 2 more" in line
    assert "ReadOnlyAccess, arn:aws:iam::123456789012:policy/Scanner" in line
    assert "arn:aws:iam::aws:policy/" not in line
    assert line.endswith("to 2027-01-31")


def _ask(client, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("reports:subprocessors"), {"format": "pdf", **fields})


def test_an_auditor_asks_for_a_binder_follows_it_and_downloads_it(
    client, org: Org, make_user, django_capture_on_commit_callbacks
):
    client.force_login(org.auditor)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = _ask(client, tier="")
    assert len(queued) == 1  # the worker is asked only once the row is committed
    export = ReportExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:export_status", args=[export.pk])

    export.refresh_from_db()
    assert export.status == ReportExport.Status.DONE, export.error
    assert export.row_count == report_summary(report_params()).row_count
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Ready" in html
    assert export.sha256 in html
    state = client.get(response["Location"], HTTP_ACCEPT="application/json")
    assert json.loads(state.content) == {"status": "done", "progress": ""}
    for answer in (page, state):  # one address, two forms: never cached, varied by Accept
        assert "no-store" in answer["Cache-Control"]
        assert "private" in answer["Cache-Control"]
        assert "Accept" in answer["Vary"]

    download = client.get(reverse("reports:export_download", args=[export.pk]))
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, no-store"
    body = b"".join(download.streaming_content)  # type: ignore[arg-type]
    assert body.startswith(b"%PDF")
    assert hashlib.sha256(body).hexdigest() == export.sha256
    assert len(PdfReader(io.BytesIO(body)).pages) == export.pages
    index = client.get(reverse("reports:index")).content.decode()
    assert reverse("reports:export_status", args=[export.pk]) in index

    # Another auditor learns nothing of it: the same 404 as for an export that never existed.
    client.force_login(make_user("olga", "auditors"))
    for name in ("reports:export_status", "reports:export_download"):
        assert client.get(reverse(name, args=[export.pk])).status_code == 404
    status = reverse("reports:export_status", args=[export.pk])
    assert client.get(status, HTTP_ACCEPT="application/json").status_code == 404
    assert client.post(reverse("reports:export_again", args=[export.pk])).status_code == 404


def test_a_link_asking_for_a_pdf_starts_nothing(client, org: Org):
    client.force_login(org.auditor)
    response = client.get(reverse("reports:subprocessors"), {"format": "pdf"})
    assert response.status_code == 400
    assert "use the Download button" in response.content.decode()
    assert not ReportExport.objects.exists()


def test_an_unreachable_queue_fails_the_binder_on_its_page(
    client, org: Org, monkeypatch, django_capture_on_commit_callbacks
):
    from reports.tasks import report_export_task

    def unreachable(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("Connection refused")

    monkeypatch.setattr(report_export_task, "delay", unreachable)
    client.force_login(org.auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = _ask(client)
    assert response.status_code == 302
    export = ReportExport.objects.get()
    assert export.status == ReportExport.Status.FAILED
    assert "task queue could not be reached" in client.get(response["Location"]).content.decode()


def test_asking_again_makes_the_same_report_as_of_the_same_instant(
    client, org: Org, django_capture_on_commit_callbacks
):
    as_of = timezone.now() - timedelta(hours=3, seconds=17)
    failed = _export(org, status=ReportExport.Status.FAILED, tier="high")
    _age(failed, as_of=as_of)
    client.force_login(org.auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:export_again", args=[failed.pk]))
    again = ReportExport.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("reports:export_status", args=[again.pk])
    assert (again.as_of, again.tier, again.period_start) == (as_of, "high", failed.period_start)
    assert again.status == ReportExport.Status.DONE, again.error


def test_a_requester_cannot_ask_for_a_binder(client, org: Org):
    client.force_login(org.engineer)
    assert _ask(client).status_code == 403
    assert not ReportExport.objects.exists()


def test_a_failed_binder_says_why_saves_nothing_and_can_be_asked_again(
    client, org: Org, monkeypatch, django_capture_on_commit_callbacks, media: Path
):
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the layout ran out of paper")

    monkeypatch.setattr(exports, "write_pdf", broken)
    client.force_login(org.auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = _ask(client)
    export = ReportExport.objects.get()
    assert export.status == ReportExport.Status.FAILED
    assert not export.file
    assert not (media / "exports").exists() or not any((media / "exports").iterdir())
    html = client.get(response["Location"]).content.decode()
    # What went wrong is logged; the page says only that it failed, and where to look.
    assert "ran out of paper" not in html
    assert f"export {export.pk}; the details are in the log" in html
    assert "Ask again" in html
    assert client.get(reverse("reports:export_download", args=[export.pk])).status_code == 404


def test_more_than_three_binders_on_the_way_are_refused(client, org: Org):
    params = report_params()
    for _ in range(exports.MAX_IN_PROGRESS):
        ReportExport.objects.create(
            requested_by=org.auditor, as_of=params.as_of, period_start=params.period_start
        )
    client.force_login(org.auditor)
    response = _ask(client)
    assert response.status_code == 429
    assert "already have 3 PDF binders" in response.content.decode()
    assert ReportExport.objects.count() == exports.MAX_IN_PROGRESS


def _export(org: Org, **fields) -> ReportExport:  # type: ignore[no-untyped-def]
    params = report_params()
    return ReportExport.objects.create(
        requested_by=org.auditor, as_of=params.as_of, period_start=params.period_start, **fields
    )


def _age(export: ReportExport, **fields) -> None:  # type: ignore[no-untyped-def]
    ReportExport.objects.filter(pk=export.pk).update(**fields)


def test_a_redelivered_task_leaves_a_done_or_moving_binder_alone(org: Org):
    done = _export(org, status=ReportExport.Status.DONE, sha256="a" * 64)
    export_run(export_id=str(done.pk))
    done.refresh_from_db()
    assert (done.status, done.sha256, done.pages) == ("done", "a" * 64, None)

    moving = _export(org, status=ReportExport.Status.RUNNING, progress="Subprocessors: 2 of 9")
    export_run(export_id=str(moving.pk))
    moving.refresh_from_db()
    assert (moving.status, moving.progress) == ("running", "Subprocessors: 2 of 9")

    # Still for longer than STALLED_AFTER: its worker died, and this delivery starts it again.
    stalled = _export(org, status=ReportExport.Status.RUNNING, attempt=1)
    _age(stalled, updated_at=timezone.now() - STALLED_AFTER - timedelta(seconds=1))
    export_run(export_id=str(stalled.pk))
    stalled.refresh_from_db()
    assert (stalled.status, stalled.attempt) == ("done", 2)
    assert stalled.pages is not None
    assert stalled.pages >= 5
    assert stalled.file.name == f"exports/{stalled.pk}-2.pdf"

    # A binder whose worker died on every attempt is not tried for ever.
    doomed = _export(org, status=ReportExport.Status.RUNNING, attempt=exports.MAX_ATTEMPTS)
    _age(doomed, updated_at=timezone.now() - STALLED_AFTER - timedelta(seconds=1))
    export_run(export_id=str(doomed.pk))
    doomed.refresh_from_db()
    assert doomed.status == ReportExport.Status.FAILED
    assert "stopped each time" in doomed.error


def test_a_worker_that_lost_its_claim_writes_nothing_and_keeps_no_file(
    org: Org, monkeypatch, media: Path
):
    """The sweep failed the export while its (slow, living) worker was still laying it out:
    the worker's result must not turn it back to done, and its file must not stay behind."""
    export = _export(org)
    real_write_pdf = exports.write_pdf

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        pages = real_write_pdf(*args, **kwargs)
        _age(export, updated_at=timezone.now() - STALLED_AFTER - timedelta(minutes=1))
        assert exports_sweep() == (0, 1)
        return pages

    monkeypatch.setattr(exports, "write_pdf", slow)
    export_run(export_id=str(export.pk))
    export.refresh_from_db()
    assert export.status == ReportExport.Status.FAILED
    assert not export.file
    assert not any((media / "exports").iterdir())


def test_the_sweep_deletes_old_binders_with_their_files_and_fails_stalled_ones(
    org: Org, settings, media: Path
):
    now = timezone.now()
    old = _export(org, status=ReportExport.Status.DONE)
    old.file.save("x.pdf", ContentFile(b"%PDF-old"))
    stored = Path(old.file.path)
    assert stored.is_file()
    _age(old, created_at=now - timedelta(hours=settings.PORTAL_EXPORT_KEEP_HOURS, minutes=1))
    fresh = _export(org, status=ReportExport.Status.DONE)
    stalled = _export(org, status=ReportExport.Status.RUNNING)
    _age(stalled, updated_at=now - STALLED_AFTER - timedelta(minutes=1))
    moving = _export(org, status=ReportExport.Status.RUNNING)
    unclaimed = _export(org)
    _age(unclaimed, created_at=now - exports.UNCLAIMED_AFTER - timedelta(minutes=1))
    waiting = _export(org)

    assert exports_sweep(now=now) == (1, 2)
    assert not ReportExport.objects.filter(pk=old.pk).exists()
    assert not stored.exists()
    statuses = dict(ReportExport.objects.values_list("pk", "status"))
    assert statuses == {
        fresh.pk: "done",
        stalled.pk: "failed",
        moving.pk: "running",
        unclaimed.pk: "failed",
        waiting.pk: "queued",
    }
    assert "reports worker may not be running" in ReportExport.objects.get(pk=unclaimed.pk).error


def test_deleting_the_user_deletes_their_binders_files(org: Org, media: Path):
    export = _export(org, status=ReportExport.Status.DONE)
    export.file.save("x.pdf", ContentFile(b"%PDF-1.7"))
    stored = Path(export.file.path)
    org.auditor.delete()
    assert not ReportExport.objects.exists()
    assert not stored.exists()
