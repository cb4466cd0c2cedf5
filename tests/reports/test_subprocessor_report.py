"""The subprocessor report: each format opened and checked against the database, as of now
and as of a moment before later changes; formula injection comes out inert."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from approvals.models import AccessRequest, Approval
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from keys.models import AccessKey
from reports import renderers
from reports.subprocessors import (
    APPENDIX_A_SUMMARY,
    report_params,
    report_summary,
    subprocessor_rows,
)
from tests.reports.conftest import (
    INJECTION_LEGAL,
    INJECTION_NAME,
    INJECTION_PURPOSE,
    INJECTION_SERVICE,
    Org,
)
from tests.reports.test_pdf_binders import outline
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services
from vendors.models import ChecklistAnswer, EvidenceFile

pytestmark = pytest.mark.django_db
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
TABLE_START = b"\r\n\r\n"  # the table follows the header block's empty line


def export(tmp_path: Path, fmt: str, *args: str) -> Path:
    out = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.{fmt}"
    call_command(
        "export_subprocessors", "--format", fmt, "-o", str(out), *args, stdout=io.StringIO()
    )
    return out


def read_csv(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header block (label -> value) and the table's rows (column -> cell)."""
    with path.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    head, _blank, table = text.partition("\r\n\r\n")
    header = {label: value for label, value in csv.reader(io.StringIO(head))}
    return header, list(csv.DictReader(io.StringIO(table)))


def by_vendor(rows: list[dict[str, str]], name: str) -> dict[str, str]:
    return next(r for r in rows if r["Vendor"] == name)


def test_csv_rows_and_header_match_the_database(org: Org, tmp_path):
    path = export(tmp_path, "csv")
    header, rows = read_csv(path)

    assert header["Organization"] == "Example Corp"
    assert header["Row count"] == str(len(rows)) == "2"
    assert header["Active vendor AWS grants"] == "2"
    assert header["Unmapped CUECs"] == "1"
    assert header["Vendors, tier High"] == header["Vendors, tier Medium"] == "1"
    # The documented recipe: SHA-256 of the bytes from the column-header line to the end.
    data = path.read_bytes()
    table = data[data.index(TABLE_START) + len(TABLE_START) :]
    assert table.startswith(b"Vendor legal name,")
    assert hashlib.sha256(table).hexdigest() == header["Data SHA-256"]
    recipe = header["Data SHA-256 covers"].split("Recompute it with: ")[1]
    assert recipe == "sed '1,/^\\r$/d' report.csv | sha256sum"
    path.rename(tmp_path / "report.csv")
    # The recipe exactly as an auditor types it, in a shell (a fixed string from our code).
    shell = subprocess.run(  # noqa: S602
        recipe, shell=True, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert shell.stdout.split()[0] == header["Data SHA-256"]

    orbit = by_vendor(rows, "Orbit CI")
    assert orbit["Vendor legal name"] == "Orbit CI, Inc."
    assert orbit["Internal owner"] == "erin"
    assert (orbit["Inherent tier"], orbit["Key vendor"]) == ("High", "Y")
    assert (orbit["4th parties disclosed"], orbit["4th parties"]) == ("Y", "AWS; Cloudflare")
    assert orbit["Decision"] == "Approved with conditions"
    assert orbit["Conditions"] == "Map the CUEC."
    assert orbit["Attestation type"] == "SOC 2 Type II"
    assert orbit["Exceptions (count/relevant/dispositioned)"] == "1/1/1"
    assert orbit["CUECs (total/mapped)"] == "1/0"
    assert orbit["Subservice organizations"] == "Amazon Web Services (Carve-out)"
    assert (orbit["Reviewer"], orbit["Approver"]) == ("erin", "sasha")
    assert orbit["Review status"] == "Current"
    grant, other = org.grant, org.other_grant
    assert orbit["Request ids"] == f"#{grant.pk}; #{other.pk}"
    assert orbit["Accounts"] == (
        f"#{grant.pk}: 111122223333, 444455556666; "
        f"#{other.pk}: all accounts (Substrate Auditor role)"
    )
    assert orbit["Approvers"] == f"#{grant.pk}: sam; #{other.pk}: sam"
    grant.refresh_from_db()
    assert f"#{grant.pk}: {grant.expires_on}" in orbit["Expires on"]
    assert "http://forge.example/pulls/1" in orbit["Pull request / key id"]
    for evidence in EvidenceFile.objects.filter(review__vendor=org.orbit):
        assert f"sha256:{evidence.sha256}" in orbit["Evidence files"]

    evil = by_vendor(rows, "'" + INJECTION_NAME)
    assert (evil["Access strategy"], evil["Review status"]) == ("none", "No approved review")


def test_access_keys_appear_masked_with_their_last_use(org: Org, tmp_path):
    """IAM-user grants: the key AWS issued (masked, SOC2.md section 4) and its last use; a key
    deleted before the as-of time and one still pending are left out."""
    grant = org.grant
    now = timezone.now()
    AccessKey.objects.create(
        access_request=grant,
        user_name="orbit-ci",
        access_key_id="AKIAOLDKEY0000000001",
        status="deleted",
        aws_created_at=now - timedelta(days=9),
        deleted_at=now - timedelta(days=2),
    )
    live = AccessKey.objects.create(
        access_request=grant,
        user_name="orbit-ci",
        access_key_id="AKIALIVEKEY000000002",
        status="active",
        aws_created_at=now - timedelta(days=2),
        last_used_at=now - timedelta(days=1),
        last_used_service="s3",
        last_used_region="eu-west-1",
    )
    AccessKey.objects.create(access_request=grant, user_name="orbit-ci", status="pending")

    _header, rows = read_csv(export(tmp_path, "csv"))
    orbit = by_vendor(rows, "Orbit CI")
    cell = orbit["Pull request / key id"]
    assert f"#{grant.pk}: key {live.masked_id}" in cell
    assert "AKIALIVEKEY000000002" not in cell
    assert cell.count(" key ") == 1  # neither the deleted nor the pending key
    used = timezone.localtime(live.last_used_at).date().isoformat()
    assert orbit["Key last used"] == f"#{grant.pk}: {live.masked_id} {used} s3 eu-west-1"


def test_formula_injection_in_vendor_text_is_inert(org: Org, tmp_path):
    _header, rows = read_csv(export(tmp_path, "csv"))
    evil = by_vendor(rows, "'" + INJECTION_NAME)
    assert evil["Vendor legal name"] == "'" + INJECTION_LEGAL
    assert evil["Service"] == "'" + INJECTION_SERVICE
    assert evil["Purpose of processing"] == "'" + INJECTION_PURPOSE
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    _header, changes = read_csv(export(tmp_path, "csv", "--part", "changes"))
    assert "'" + INJECTION_NAME in {row["Object"] for row in changes}

    workbook = load_workbook(export(tmp_path, "xlsx"))
    texts = []
    for sheet in workbook.worksheets:
        for cells in sheet.iter_rows():
            for cell in cells:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    assert "'" + INJECTION_NAME in texts
    assert "'" + INJECTION_LEGAL in texts


def test_xlsx_has_typed_cells_frozen_headers_filters_and_a_sheet_per_appendix(org: Org, tmp_path):
    workbook = load_workbook(export(tmp_path, "xlsx"))
    assert workbook.sheetnames == [
        "Summary",
        "Subprocessors",
        "A Approval trail",
        "B Changes in the period",
        "C Exceptions register",
    ]
    table = workbook["Subprocessors"]
    assert table.freeze_panes == "B2"
    assert table.auto_filter.ref == f"A1:BD{table.max_row}"
    headers = [cell.value for cell in table[1]]
    rows = [dict(zip(headers, (c.value for c in row), strict=True)) for row in table.iter_rows(2)]
    orbit = next(r for r in rows if r["Vendor"] == "Orbit CI")
    assert isinstance(orbit["Date added"], datetime)  # a typed date cell
    assert isinstance(orbit["Report age (days)"], int)
    assert orbit["Report age (days)"] == 60  # complete_review puts the period end 60 days ago
    assert orbit["Approver"] == "sasha"

    summary = {row[0].value: row[1].value for row in workbook["Summary"].iter_rows() if row}
    assert summary["Row count"] == 2
    assert summary["Data SHA-256"] == report_summary(report_params()).data_sha256

    # Appendix A: one line per request (not per event), pointing at the full trail.
    trail_sheet = workbook["A Approval trail"]
    assert trail_sheet.freeze_panes == "B3"
    trail = list(trail_sheet.iter_rows(values_only=True))
    assert "approval-trail part" in str(trail[0][0])
    assert trail[1] == APPENDIX_A_SUMMARY
    assert trail_sheet.auto_filter.ref == f"A2:J{len(trail)}"
    lines = {line[0]: dict(zip(APPENDIX_A_SUMMARY, line, strict=True)) for line in trail[2:]}
    assert list(lines) == [f"#{org.grant.pk}", f"#{org.other_grant.pk}"]
    grant = lines[f"#{org.grant.pk}"]
    assert (grant["Vendor"], grant["Status at as-of"]) == ("Orbit CI", "Active")
    assert str(grant["Approvers (UTC)"]).startswith("sam 20")
    assert isinstance(grant["Activated (UTC)"], datetime)
    assert grant["Revoked/expired (UTC)"] is None
    assert grant["Pull request"] == "http://forge.example/pulls/1"
    exceptions = list(workbook["C Exceptions register"].iter_rows(values_only=True))
    assert (exceptions[2][0], exceptions[2][3]) == ("Orbit CI", "SOC report exception")
    assert exceptions[2][4] == "Two terminated users kept access for 9 days."


def test_pdf_has_the_cover_table_appendices_and_page_numbers(org: Org, tmp_path):
    path = export(tmp_path, "pdf")
    raw = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    text = " ".join(raw.split())
    summary = report_summary(report_params())
    assert "Subprocessor report" in text
    assert "Example Corp" in text
    assert summary.data_sha256[:32] in raw.replace("\n", "")
    assert "Vendors by tier and review state" in text
    for title in ("Appendix A", "Appendix B", "Appendix C"):
        assert title in text
    # Appendix A is one line per request and says where every event is.
    assert "Approvers (UTC)" in text
    assert "request.approve" not in text
    assert "approval-trail part" in text
    assert "Orbit CI, Inc." in text
    assert "Two terminated users kept access for 9 days." in text
    assert "111122223333" in text
    # The cover states the page count; the last page carries that number.
    reader = PdfReader(path)
    assert f"Pages in this binder {len(reader.pages)}" in text
    assert f"Page {len(reader.pages)}" in reader.pages[-1].extract_text()
    assert [title for title, _index in outline(reader)] == [
        "Summary",
        "Subprocessors",
        "Appendix A - Approval trail",
        "Appendix B - Changes in the period",
        "Appendix C - Exceptions register",
    ]

    SCREENS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "2",
            str(path),
            str(SCREENS / "report-pdf"),
        ],
        check=True,
    )
    assert (SCREENS / "report-pdf-1.png").stat().st_size > 10_000


def test_a_report_as_of_before_changes_shows_the_state_then(history: Org, tmp_path):
    org = history
    assert org.before_changes is not None
    _h, now_rows = read_csv(export(tmp_path, "csv"))
    header_then, then_rows = read_csv(
        export(tmp_path, "csv", "--as-of", org.before_changes.isoformat())
    )
    now, then = by_vendor(now_rows, "Orbit CI"), by_vendor(then_rows, "Orbit CI")
    # The tier override and the revocation came later.
    assert (then["Inherent tier"], now["Inherent tier"]) == ("High", "Critical")
    assert then["Request ids"] == f"#{org.grant.pk}; #{org.other_grant.pk}"
    assert now["Request ids"] == f"#{org.other_grant.pk}"
    assert header_then["Active vendor AWS grants"] == "2"
    assert header_then["Vendors, tier Critical"] == "0"

    _h, changes_now = read_csv(export(tmp_path, "csv", "--part", "changes"))
    tier_change = [r for r in changes_now if r["Change"] == "Tier changed"]
    assert len(tier_change) == 1
    assert "high -> critical (reason: Deploys to production.)" in tier_change[0]["Detail"]
    _h, changes_then = read_csv(
        export(tmp_path, "csv", "--part", "changes", "--as-of", org.before_changes.isoformat())
    )
    assert not [r for r in changes_then if r["Change"] == "Tier changed"]
    _h, trail_now = read_csv(export(tmp_path, "csv", "--part", "approval-trail"))
    revoke = [r for r in trail_now if r["Action"] == "request.revoke"]
    assert [(r["Status after"], r["Note"]) for r in revoke] == [("revoked", "No longer used.")]
    # The condensed Appendix A: the revoked grant's line has its end; before, it was live.
    _h, summaries_now = read_csv(export(tmp_path, "csv", "--part", "requests"))
    ended = {r["Request"]: r for r in summaries_now}[f"#{org.grant.pk}"]
    assert (ended["Status at as-of"], ended["Revoked/expired (UTC)"][:2]) == ("Revoked", "20")
    _h, summaries_then = read_csv(
        export(tmp_path, "csv", "--part", "requests", "--as-of", org.before_changes.isoformat())
    )
    live = {r["Request"]: r for r in summaries_then}[f"#{org.grant.pk}"]
    assert (live["Status at as-of"], live["Revoked/expired (UTC)"]) == ("Active", "")

    # A date before anything existed: an empty report, not today's vendors.
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    header_empty, rows_empty = read_csv(export(tmp_path, "csv", "--as-of", yesterday))
    assert (header_empty["Row count"], rows_empty) == ("0", [])


def test_filters_narrow_the_rows_and_are_stated(org: Org, tmp_path):
    header, rows = read_csv(export(tmp_path, "csv", "--tier", "medium"))
    assert [r["Vendor"] for r in rows] == ["'" + INJECTION_NAME]
    assert header["Filters"] == "tier=medium"


@pytest.mark.parametrize("part", ["requests", "approval-trail", "changes", "exceptions"])
def test_filters_narrow_the_appendices_to_the_same_vendors(org: Org, tmp_path, part: str):
    """A report about the medium-tier vendors has their approval trail, changes and exceptions
    only: Orbit CI (high tier) and its grants, review and exception are in the unfiltered one."""
    orbit = (f"#{org.grant.pk}", "Orbit CI")
    _h, everything = read_csv(export(tmp_path, "csv", "--part", part))
    assert any(cell.startswith(orbit) for row in everything for cell in row.values() if cell)
    _h, medium = read_csv(export(tmp_path, "csv", "--part", part, "--tier", "medium"))
    assert not any(cell.startswith(orbit) for row in medium for cell in row.values() if cell)
    assert len(medium) < len(everything)


def test_row_queries_do_not_grow_with_vendors(org: Org, make_user):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            rows = list(subprocessor_rows(report_params()))
        assert rows
        return len(captured)

    before = queries()
    for index in range(3):
        vendor_services.vendor_create(
            actor=org.engineer,
            data=vendor_data(org.engineer, name=f"Extra {index}", slug=f"extra-{index}"),
        )
    assert queries() == before


def test_auditors_download_each_format_from_the_browser(client, org: Org):
    client.force_login(org.auditor)
    page = client.get(reverse("reports:index"))
    assert page.status_code == 200
    assert b"Subprocessor report" in page.content

    response = client.get(reverse("reports:subprocessors"), {"format": "csv"})
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)  # type: ignore[arg-type]
    table = body[body.index(TABLE_START) + len(TABLE_START) :]
    assert hashlib.sha256(table).hexdigest() == response["X-Report-Data-SHA256"]
    assert 'filename="subprocessors-' in response["Content-Disposition"]

    xlsx = client.get(reverse("reports:subprocessors"), {"format": "xlsx"})
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(b"".join(xlsx.streaming_content))).sheetnames[1] == (  # type: ignore[arg-type]
        "Subprocessors"
    )
    # A PDF binder is asked for (POST) and prepared by a worker: see test_pdf_binders.py.
    pdf = client.get(reverse("reports:subprocessors"), {"format": "pdf"})
    assert pdf.status_code == 400
    assert "use the Download button" in pdf.content.decode()

    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    refused = client.get(reverse("reports:subprocessors"), {"format": "csv", "as_of": future})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Choose today or an earlier date." in html  # beside the field, input kept
    assert f'value="{future}"' in html


def test_the_csv_export_walks_the_rows_once_and_writes_the_same_bytes(org: Org):
    params = report_params()
    with CaptureQueriesContext(connection) as one_walk:
        summary = report_summary(params)
    summary_queries = len(one_walk)
    twice = "".join(renderers.csv_chunks(params, summary))

    with CaptureQueriesContext(connection) as export_queries:
        exported_summary, chunks = renderers.csv_export(params)
        once = "".join(chunks)
    # The header's counts and hash came from the same walk that wrote the table.
    assert len(export_queries) == summary_queries
    assert once.partition("\r\n\r\n")[2] == twice.partition("\r\n\r\n")[2]
    table = once.partition("\r\n\r\n")[2].encode("utf-8")
    assert hashlib.sha256(table).hexdigest() == exported_summary.data_sha256 == summary.data_sha256
    assert exported_summary.row_count == 2


def test_the_csv_export_builds_no_grant_or_answered_checklist_objects(org: Org):
    """Live grants, their approvals, pull requests and accounts are read as plain values (a
    large organization has tens of thousands, and building model objects for them was most of
    the export's time); of a review's checklist only the open blockers are read."""
    built: list[str] = []

    def record(sender: type, **kwargs: object) -> None:
        built.append(sender.__name__)

    watched = (AccessRequest, Approval, PullRequest, AwsAccount, ChecklistAnswer)
    assert ChecklistAnswer.objects.filter(review__vendor=org.orbit, blocking=True).exists()
    for model in watched:
        post_init.connect(record, sender=model, weak=False)
    try:
        summary, chunks = renderers.csv_export(report_params())
        text = "".join(chunks)
    finally:
        for model in watched:
            post_init.disconnect(record, sender=model)
    assert built == []
    # ... and the grants are still in the table (accounts, approvers, pull request).
    assert summary.live_grants == 2
    assert "111122223333" in text
    assert "http://forge.example/pulls/1" in text
