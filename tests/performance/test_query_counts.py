"""Each page's SQL query count is pinned, and does not grow with the rows it shows.

Every test seeds a small organization with the benchmark's seeder (`bench.seed`), counts the
queries of one request to the page, seeds a larger one on top and counts again: an N+1 query
(one more query per row shown) makes the second count larger, and a new query per page makes
it exceed the pinned number. Each test also checks that the page shows more rows the second
time, so the comparison means something.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.seed import Scale, SeedResult, seed_organization
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.postgres

SMALL = Scale(accounts=10, vendors=3, requests=4, seed=9, requester_share=0.5)
LARGE = Scale(accounts=45, vendors=30, requests=60, seed=2, requester_share=0.5)
# DESIGN.md section 7 (and issue #10): whatever the page, at most this many.
CEILING = 15


@dataclass(frozen=True)
class Page:
    role: str  # who looks: "security", "requester" or "auditor"
    url: Callable[[SeedResult], str]
    max_queries: int
    # How many rows the response shows, from its context or its body.
    rows: Callable[[Any, bytes], int]
    ceiling: int | None = CEILING
    larger: Scale = LARGE
    # A first request fills Django's caches before the counted one (not worth a PDF's time).
    warm_up: bool = True


def _length(*names: str) -> Callable[[Any, bytes], int]:
    return lambda response, body: sum(len(list(response.context[name])) for name in names)


def _page_rows(response: Any, body: bytes) -> int:
    return len(response.context["page"].object_list)


def _csv_rows(response: Any, body: bytes) -> int:
    """Lines of the table, after the header block and its blank line."""
    return body.decode().split("\r\n\r\n", 1)[1].count("\r\n")


def _xlsx_rows(response: Any, body: bytes) -> int:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body), read_only=True)["Subprocessors"]
    return sum(1 for _row in sheet.iter_rows())


def _export(fmt: str) -> Callable[[SeedResult], str]:
    return lambda seeded: f"{reverse('reports:subprocessors')}?format={fmt}"


def _recert_campaigns(per_vendor: bool) -> list[int]:
    """Re-certification campaigns over the seeded live grants not asked about yet: one for them
    all, or one per vendor (so that a larger organization has more of them)."""
    from django.utils import timezone

    from recertification.models import Campaign, Certification
    from recertification.services import GrantFilter, live_grants

    grants = list(live_grants(GrantFilter()).values_list("pk", "vendor_id"))
    groups: dict[int, list[int]] = {}
    for pk, vendor_id in grants:
        groups.setdefault(vendor_id if per_vendor else 0, []).append(pk)
    ids = []
    for group in groups.values():
        campaign = Campaign.objects.create(
            name="Q4", kind="manual", deadline=timezone.localdate() + timedelta(days=7)
        )
        Certification.objects.bulk_create(
            Certification(campaign=campaign, access_request_id=pk) for pk in group
        )
        ids.append(campaign.pk)
    return ids


def _recert_list(seeded: SeedResult) -> str:
    _recert_campaigns(per_vendor=True)
    return reverse("recertification:campaigns")


def _recert_campaign(seeded: SeedResult) -> str:
    [campaign_id] = _recert_campaigns(per_vendor=False)
    return reverse("recertification:campaign_detail", args=[campaign_id])


PAGES = {
    "dashboard": Page(
        "security",
        lambda seeded: reverse("dashboard"),
        # 9, plus "Needs attention": failed requests and revocations (one query), keys, key
        # recipient changes waiting for security, merges of an unapproved head; plus the
        # extensions awaiting approval; plus the outside access nobody approved
        15,
        _length("expiring_soon", "requests_to_decide", "reviews_to_decide"),
    ),
    "request list": Page(
        "requester",
        lambda seeded: reverse("approvals:requests"),
        # 5, plus what AWS holds of the merged grants: their checks and merged pull requests
        7,
        _page_rows,
    ),
    # Security's list of every request: the vendors of the filter, the page's count and rows
    # with their vendors and requesters, plus what AWS holds of the merged grants (as above).
    "all requests": Page(
        "security",
        lambda seeded: reverse("approvals:requests_all"),
        9,
        _page_rows,
    ),
    "vendor list": Page(
        "security",
        lambda seeded: reverse("vendors:list"),
        5,
        _page_rows,
    ),
    "admin request list": Page(
        "security",
        lambda seeded: reverse("admin:approvals_accessrequest_changelist"),
        7,
        lambda response, body: len(response.context["cl"].result_list),
    ),
    "admin request page": Page(
        "security",
        lambda seeded: reverse(
            "admin:approvals_accessrequest_change", args=[seeded.showcase_request_id]
        ),
        # 12, plus the approvals inline that security could not see before, plus the vendor's
        # other live grants of the same strategy (issue 20's duplicate warning), plus the decision
        # box's approvals ("1 of 2", and the viewer's own decision)
        15,
        lambda response, body: (
            len(response.context["timeline"]) + response.context["original"].target_accounts.count()
        ),
    ),
    "request page": Page(
        "security",
        lambda seeded: reverse("approvals:request_detail", args=[seeded.showcase_request_id]),
        10,  # 9, plus the vendor's other live grants of the same strategy (issue 20)
        _length("accounts", "approvals", "timeline"),
    ),
    "access map": Page(
        "security",
        lambda seeded: reverse("reports:access_map"),
        # 8, plus what AWS last held for the page's grants and the unapproved outside trusts
        10,
        lambda response, body: len(response.context["map"].rows),
    ),
    # The exports read vendors 500 at a time (memory stays flat) with 13 queries per batch (the
    # IAM-user grants' keys among them; Appendix A's approvers one more per chunk), so
    # beyond 500 vendors their count grows by a batch's queries per 500 vendors: over the
    # pages' ceiling, but never per row. The CSV and XLSX walk the rows once (writing the table
    # while the header's hash and counts are computed); the PDF binder (below) walks them twice.
    # What AWS held (issue 17) is three more per walk: the open outside-access findings, and
    # per batch each grant's verdict from the audit log and its role's last use.
    # Session, user, roles, plus the campaigns with their progress (one query).
    "re-certification campaigns": Page("security", _recert_list, 5, _length("campaigns")),
    # The campaign with its progress, its items with their grants and answerers, and what
    # AWS last reported of the grants' use.
    "re-certification campaign": Page("security", _recert_campaign, 6, _length("items")),
    "CSV export": Page("auditor", _export("csv"), 19, _csv_rows, ceiling=None),
    "XLSX export": Page("auditor", _export("xlsx"), 24, _xlsx_rows, ceiling=None),
}


def _clients(seeded: SeedResult) -> dict[str, Client]:
    users = get_user_model().objects.in_bulk(
        [seeded.security_username, seeded.requester_username, seeded.auditor_username],
        field_name="username",
    )
    clients = {}
    for role, username in (
        ("security", seeded.security_username),
        ("requester", seeded.requester_username),
        ("auditor", seeded.auditor_username),
    ):
        clients[role] = Client()
        force_login_with_mfa(clients[role], users[username])
    return clients


def _count(page: Page, seeded: SeedResult) -> tuple[int, int]:
    """(queries, rows shown) of one request, after a first one that fills Django's caches."""
    client = _clients(seeded)[page.role]
    url = page.url(seeded)
    if page.warm_up:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    assert response.status_code == 200
    return len(captured), page.rows(response, body)


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(PAGES))
def test_query_count_is_pinned_and_independent_of_rows(name: str) -> None:
    page = PAGES[name]
    small_queries, small_rows = _count(page, seed_organization(SMALL))
    large_queries, large_rows = _count(page, seed_organization(page.larger))

    assert large_rows > small_rows, "the larger organization must show more rows"
    assert large_queries == small_queries, (
        f"{name}: {small_queries} queries for {small_rows} rows, "
        f"{large_queries} for {large_rows} rows (a query per row?)"
    )
    assert small_queries <= page.max_queries
    assert page.ceiling is None or page.max_queries <= page.ceiling


@pytest.mark.django_db
def test_pdf_binder_query_count_is_pinned_and_independent_of_rows(settings, tmp_path) -> None:
    """The PDF binder is prepared by a worker (reports/exports.py): its queries are those of
    `export_run`, from claiming the export to saving the file, with a progress update per part
    (200 vendors or 1,500 appendix lines: one part each here). Its pages stand for its rows; a
    smaller second organization, as WeasyPrint takes a fraction of a second per page."""
    from reports.exports import export_run
    from reports.models import ReportExport
    from reports.subprocessors import report_params

    settings.MEDIA_ROOT = str(tmp_path)

    def count(seeded: SeedResult) -> tuple[int, int]:
        auditor = get_user_model().objects.get(username=seeded.auditor_username)
        params = report_params()
        export = ReportExport.objects.create(
            requested_by=auditor, as_of=params.as_of, period_start=params.period_start
        )
        with CaptureQueriesContext(connection) as captured:
            export_run(export_id=str(export.pk))
        export.refresh_from_db()
        assert export.status == ReportExport.Status.DONE, export.error
        assert export.pages is not None
        return len(captured), export.pages

    small_queries, small_pages = count(seed_organization(SMALL))
    larger = Scale(accounts=20, vendors=6, requests=8, seed=2, requester_share=0.5)
    large_queries, large_pages = count(seed_organization(larger))
    assert large_pages > small_pages, "the larger organization must make a longer binder"
    assert large_queries == small_queries, (
        f"{small_queries} queries for {small_pages} pages, {large_queries} for {large_pages}"
    )
    # The report's 40 (summary walk and the binder's own walk: vendors, appendices; each walk
    # three for what AWS held) plus the
    # worker's claim (an update and the claimed export read back, in a savepoint here),
    # progress updates and the final update. Not a page, so no ceiling.
    assert small_queries <= 45
