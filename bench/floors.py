"""The floors: bare views returning the same rows as each page, with values() and no template.

A page cannot be faster than fetching its rows and writing them out, through the same middleware
and the same session sign-in. Each floor runs the queries that produce exactly the rows the page
shows (the same filters, order, page size and counts) and writes them as a plain HTML table; the
ratio page / floor is then the cost of the ORM objects, the template and the page's extras.

`urlpatterns` serves the portal's own routes plus the floors under /__floor__/, so the bench
measures both through one Django test client. This urlconf exists only in the bench.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path
from django.utils import timezone
from django.utils.html import escape

from accessportal.urls import urlpatterns as portal_urlpatterns
from approvals.models import PENDING_STATES, AccessRequest, Approval
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from keys.selectors import access_keys_needing_attention
from reports.access_map import MapFilters, Through, live_grants
from vendors.models import SubprocessorReview, Vendor
from vendors.selectors import vendor_review_state, with_review_state

LIVE = (
    AccessRequest.Status.APPROVED,
    AccessRequest.Status.PROVISIONING,
    AccessRequest.Status.PR_OPEN,
    AccessRequest.Status.ACTIVE,
    AccessRequest.Status.EXPIRING,
)


def _table(rows: Iterable[Mapping[str, Any]]) -> str:
    lines = ["<table>"]
    for row in rows:
        cells = "".join(f"<td>{escape(value)}</td>" for value in row.values())
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _page(*parts: str) -> HttpResponse:
    return HttpResponse("<!doctype html><html><body>" + "\n".join(parts) + "</body></html>")


@login_required
def dashboard_floor(request: HttpRequest) -> HttpResponse:
    """The security member's dashboard: six lists of ten."""
    user = request.user.pk
    soon = timezone.localdate() + timedelta(days=30)
    requests = AccessRequest.objects.all()
    return _page(
        _table(
            requests.filter(status__in=LIVE, expires_on__lte=soon)
            .order_by("expires_on")
            .values("pk", "vendor__name", "expires_on")[:10]
        ),
        _table(
            requests.filter(requester=user, status__in=PENDING_STATES)
            .order_by("-created_at")
            .values("pk", "vendor__name", "status")[:10]
        ),
        _table(
            SubprocessorReview.objects.filter(status=SubprocessorReview.Status.SUBMITTED)
            .exclude(Q(submitted_by=user) | Q(created_by=user))
            .order_by("submitted_at")
            .values("pk", "vendor__name", "submitted_at")[:10]
        ),
        _table(
            requests.filter(status=AccessRequest.Status.SUBMITTED)
            .exclude(requester=user)
            .exclude(approvals__approver=user)
            .order_by("submitted_at")
            .values("pk", "vendor__name", "requester__username", "risk_level")[:10]
        ),
        _table(
            requests.filter(status=AccessRequest.Status.FAILED)
            .order_by("-updated_at")
            .values("pk", "vendor__name", "updated_at")[:10]
        ),
        _table(
            PullRequest.objects.filter(
                purpose=PullRequest.Purpose.REVOKE, state=PullRequest.State.FAILED
            )
            .exclude(
                Exists(
                    PullRequest.objects.filter(
                        access_request=OuterRef("access_request"),
                        purpose=PullRequest.Purpose.REVOKE,
                        pk__gt=OuterRef("pk"),
                    )
                )
            )
            .order_by("-updated_at")
            .values("access_request_id", "access_request__vendor__name", "last_error")[:10]
        ),
        _table(access_keys_needing_attention().values("pk", "access_key_id", "status")[:10]),
    )


@login_required
def request_list_floor(request: HttpRequest) -> HttpResponse:
    """My requests: the count and the first page of 25."""
    mine = AccessRequest.objects.filter(requester=request.user.pk).order_by("-created_at")
    return _page(
        f"<p>{mine.count()}</p>",
        _table(
            mine.values(
                "pk", "vendor__name", "strategy", "status", "risk_level", "expires_on", "created_at"
            )[:25]
        ),
    )


@login_required
def vendor_list_floor(request: HttpRequest) -> HttpResponse:
    """Vendors with their review state (it is part of each row): the count and 25 rows."""
    vendors = with_review_state(Vendor.objects.all()).order_by("name")
    return _page(
        f"<p>{vendors.count()}</p>",
        _table(
            vendors.values(  # type: ignore[misc]  # annotations
                "pk",
                "name",
                "service",
                "current_tier",
                "review_state",
                "review_pending",
                "next_review_due",
                "internal_owner__username",
                "status",
            )[:25]
        ),
    )


@login_required
def admin_request_list_floor(request: HttpRequest) -> HttpResponse:
    """The admin's request list: the count and the first page of 100, newest first."""
    requests = AccessRequest.objects.order_by("-created_at", "-pk")
    return _page(
        f"<p>{requests.count()}</p>",
        _table(
            requests.values(
                "pk",
                "vendor__name",
                "strategy",
                "status",
                "risk_level",
                "required_approvals",
                "requester__username",
                "expires_on",
                "submitted_at",
            )[:100]
        ),
    )


@login_required
def request_detail_floor(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: its row, the vendor's review state, accounts, approvals and timeline."""
    row: dict[str, Any] = dict(
        AccessRequest.objects.filter(pk=pk)
        .values(
            "pk",
            "status",
            "strategy",
            "vendor_id",
            "vendor__name",
            "requester__username",
            "principals",
            "role_name",
            "managed_policy_arns",
            "risk_reasons",
            "preview",
        )
        .get()
    )
    files = row.pop("preview") or {}
    return _page(
        _table([row]),
        f"<p>{escape(vendor_review_state(row['vendor_id']))}</p>",
        _table({"path": f["path"], "content": f["content"]} for f in files.get("files", [])),
        _table(
            AccessRequest.target_accounts.through.objects.filter(accessrequest_id=pk)
            .order_by("awsaccount__domain", "awsaccount__environment", "awsaccount__quality")
            .values(
                "awsaccount__name",
                "awsaccount__account_id",
                "awsaccount__domain",
                "awsaccount__environment",
                "awsaccount__quality",
            )
        ),
        _table(
            Approval.objects.filter(access_request_id=pk)
            .order_by("created_at")
            .values("approver__username", "decision", "comment", "created_at")
        ),
        _table(
            AuditEvent.objects.filter(object_type="approvals.accessrequest", object_id=str(pk))
            .order_by("sequence")
            .values("created_at", "actor_username", "action", "after")
        ),
    )


@login_required
def access_map_floor(request: HttpRequest) -> HttpResponse:
    """The access map's rows, unfiltered: the vendors with live grants (count and 25), their
    grants and the accounts the grants reach."""
    grants = live_grants(MapFilters())
    vendors = Vendor.objects.filter(pk__in=grants.values("vendor_id")).order_by("name", "pk")
    page = list(vendors.values("pk", "name")[:25])
    page_grants = list(
        grants.filter(vendor_id__in=[v["pk"] for v in page])
        .order_by("pk")
        .values("pk", "vendor_id", "strategy", "risk_level", "admin_equivalent", "expires_on")
    )
    return _page(
        f"<p>{vendors.count()}</p>",
        _table(page),
        _table(page_grants),
        _table(
            Through.objects.filter(accessrequest_id__in=[g["pk"] for g in page_grants])
            .order_by("awsaccount__domain", "awsaccount__environment", "awsaccount__quality")
            .values(
                "accessrequest_id",
                "awsaccount__account_id",
                "awsaccount__domain",
                "awsaccount__environment",
                "awsaccount__quality",
            )
        ),
    )


# The subprocessor report's rows as of now, joined in one statement: each vendor's record from
# its latest audit snapshot, its owner, its latest approved review with submitter and decider,
# and its live grants (status from each request's latest status event) with their accounts.
SUBPROCESSOR_ROWS_SQL = """
SELECT v.id, snap.after, owner.username, r.status, r.report_type, r.auditor_firm, r.opinion,
       r.period_start, r.period_end, r.report_issued_on, r.bridge_letter_through,
       r.trust_services_categories, r.residual_risk, r.conditions, r.decided_at,
       r.next_review_due, submitter.username, decider.username, grants.cells
FROM vendors_vendor v
JOIN LATERAL (
    SELECT e.after FROM approvals_auditevent e
    WHERE e.object_type = 'vendors.vendor' AND e.object_id = v.id::text
      AND e.after ?& array['name', 'tier', 'status']
    ORDER BY e.sequence DESC LIMIT 1
) snap ON true
LEFT JOIN auth_user owner ON owner.id = (snap.after->>'internal_owner_id')::bigint
LEFT JOIN LATERAL (
    SELECT * FROM vendors_subprocessorreview x
    WHERE x.vendor_id = v.id AND x.status IN ('approved', 'conditional')
    ORDER BY x.decided_at DESC, x.id DESC LIMIT 1
) r ON true
LEFT JOIN auth_user submitter ON submitter.id = r.submitted_by_id
LEFT JOIN auth_user decider ON decider.id = r.decided_by_id
LEFT JOIN LATERAL (
    SELECT string_agg(
        concat_ws(' ', a.id, a.strategy, a.role_name, a.expires_on, accounts.ids), '; '
        ORDER BY a.id
    ) AS cells
    FROM approvals_accessrequest a
    JOIN LATERAL (
        SELECT e.after->>'status' AS status FROM approvals_auditevent e
        WHERE e.object_type = 'approvals.accessrequest' AND e.object_id = a.id::text
          AND e.after ? 'status'
        ORDER BY e.sequence DESC LIMIT 1
    ) now ON now.status IN ('active', 'expiring')
    LEFT JOIN LATERAL (
        SELECT string_agg(w.account_id, ' ' ORDER BY w.account_id) AS ids
        FROM approvals_accessrequest_target_accounts t
        JOIN approvals_awsaccount w ON w.id = t.awsaccount_id
        WHERE t.accessrequest_id = a.id
    ) accounts ON true
    WHERE a.vendor_id = v.id
) grants ON true
ORDER BY snap.after->>'name', v.id
"""

urlpatterns: list[URLPattern | URLResolver] = [
    path("__floor__/dashboard/", dashboard_floor, name="floor_dashboard"),
    path("__floor__/requests/", request_list_floor, name="floor_request_list"),
    path("__floor__/vendors/", vendor_list_floor, name="floor_vendor_list"),
    path("__floor__/admin-requests/", admin_request_list_floor, name="floor_admin_request_list"),
    path("__floor__/requests/<int:pk>/", request_detail_floor, name="floor_request_detail"),
    path("__floor__/access-map/", access_map_floor, name="floor_access_map"),
    *cast(list[URLPattern | URLResolver], portal_urlpatterns),
]


# --- The XLSX floor ------------------------------------------------------------------------------
# The same cells as the export's workbook (read back from it, so the same sheets, rows, columns
# and neutralised text), written by an established writer in its constant-memory mode: the
# fastest a workbook of these cells can be written. Both writers are timed; the floor is the
# faster one. Neither includes building the rows: the ratio export / floor is the cost of the
# report's queries and cells on top of the writing.


def workbook_cells(content: bytes) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The workbook's sheets, each as (title, rows of values), read with openpyxl."""
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content), read_only=True)
    sheets = [(ws.title, list(ws.iter_rows(values_only=True))) for ws in wb.worksheets]
    wb.close()
    return sheets


def write_xlsxwriter(sheets: list[tuple[str, list[tuple[Any, ...]]]], out: Any) -> None:
    """XlsxWriter, constant_memory: each row written in order and flushed to disk."""
    from datetime import date, datetime

    import xlsxwriter

    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    when = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    for title, rows in sheets:
        ws = wb.add_worksheet(title)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    # Text stays text (write() would turn "=..." into a formula).
                    ws.write_string(r, c, value)
                elif isinstance(value, datetime):
                    ws.write_datetime(r, c, value, when)
                elif isinstance(value, date):
                    ws.write_datetime(r, c, value, day)
                else:
                    ws.write_number(r, c, value)
    wb.close()


def write_openpyxl(sheets: list[tuple[str, list[tuple[Any, ...]]]], out: Any) -> None:
    """openpyxl, write_only: rows appended as plain values (no per-cell objects)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(out)


XLSX_WRITERS = {
    "XlsxWriter constant_memory": write_xlsxwriter,
    "openpyxl write_only": write_openpyxl,
}
