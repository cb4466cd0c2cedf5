"""Report pages and downloads for auditors and security; the access map for everyone.

Every view here reads; none changes the portal's data, so auditors use them all. The one POST
asks a worker for a PDF binder (reports/exports.py): a row of the asker's own, not a change to
anything the report shows.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessportal.roles import Role, role_required
from audit.models import AuditChainHead
from reports import renderers
from reports.access_map import MapFilters, access_map
from reports.audit_export import audit_chunks, audit_events_until
from reports.audit_log import LogFilters, audit_log_page
from reports.exports import STALLED_AFTER, TooManyExports, export_request
from reports.exports import export_again as export_request_again
from reports.forms import (
    AccessMapFilterForm,
    AuditLogFilterForm,
    AuditTrailForm,
    SubprocessorReportForm,
)
from reports.models import ReportExport
from reports.subprocessors import report_params

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
READERS = (Role.AUDITORS, Role.SECURITY)


def _index(
    request: HttpRequest,
    *,
    report_form: SubprocessorReportForm | None = None,
    audit_form: AuditTrailForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The reports page; a refused download comes back here with its form's errors."""
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    return render(
        request,
        "reports/reports_index.html",
        {
            "report_form": report_form
            or SubprocessorReportForm(initial={"format": "csv", "part": "table"}),
            "audit_form": audit_form
            or AuditTrailForm(initial={"format": "jsonl"}, auto_id="audit_%s"),
            "chain_head": head,
            "exports": ReportExport.objects.filter(requested_by_id=request.user.pk)[:5],
        },
        status=status,
    )


@require_GET
@role_required(*READERS)
def reports_index(request: HttpRequest) -> HttpResponse:
    return _index(request)


@require_http_methods(["GET", "POST"])
@role_required(*READERS)
def subprocessor_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """CSV and XLSX are written in the response; a PDF binder is asked of a worker (POST)."""
    form = SubprocessorReportForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return _index(request, report_form=form, status=400)
    data = form.cleaned_data
    try:
        params = report_params(
            as_of=data["as_of"],
            period_start=data["period_start"],
            tier=data["tier"],
            status=data["status"],
        )
    except ValueError as error:
        form.add_error("period_start", str(error))
        return _index(request, report_form=form, status=400)
    fmt = data["format"]
    suffix = "" if data["part"] == "table" or fmt != "csv" else f"-{data['part']}"
    name = f"subprocessors-{params.as_of_date.isoformat()}{suffix}.{fmt}"
    if fmt == "csv":
        summary, chunks = renderers.csv_export(params, data["part"])
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES["csv"])
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Report-Data-SHA256"] = summary.data_sha256
        return response
    if fmt == "xlsx":
        # A temporary file, not memory: FileResponse streams it and closes (deletes) it.
        buffer = tempfile.TemporaryFile()  # noqa: SIM115 - closed by FileResponse
        renderers.write_xlsx(params, buffer)
        buffer.seek(0)
        return FileResponse(
            buffer, as_attachment=True, filename=name, content_type=CONTENT_TYPES["xlsx"]
        )
    if request.method != "POST":
        # Asking for a binder starts work, which a link (GET) must not do.
        form.add_error("format", "A PDF binder is prepared by a worker: use the Download button.")
        return _index(request, report_form=form, status=400)
    try:
        export = export_request(user=request.user, params=params)
    except TooManyExports as refused:
        form.add_error("format", str(refused))
        return _index(request, report_form=form, status=429)
    return redirect("reports:export_status", export_id=export.pk)


def _own_export(request: HttpRequest, export_id: str) -> ReportExport:
    """The user's own export; anyone else's, and an expired one, are the same 404."""
    export = ReportExport.objects.filter(pk=export_id, requested_by_id=request.user.pk).first()
    if export is None:
        raise Http404("No such export.")
    return export


@require_GET
@role_required(*READERS)
def export_status(request: HttpRequest, export_id: str) -> HttpResponse:
    """How far the binder has got, as a page or (for its script) as JSON; never cached."""
    export = _own_export(request, export_id)
    response: HttpResponse
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"status": export.status, "progress": export.progress})
    else:
        kept_until = export.created_at + timedelta(hours=settings.PORTAL_EXPORT_KEEP_HOURS)
        stalled = (
            export.status == ReportExport.Status.RUNNING
            and export.updated_at < timezone.now() - STALLED_AFTER
        )
        response = render(
            request,
            "reports/export_status.html",
            {"export": export, "kept_until": kept_until, "stalled": stalled},
        )
    add_never_cache_headers(response)
    patch_cache_control(response, private=True)
    patch_vary_headers(response, ["Accept"])
    return response


@require_POST
@role_required(*READERS)
def export_again(request: HttpRequest, export_id: str) -> HttpResponse:
    """The same binder asked for again (after a failure): the same as-of instant and filters."""
    export = _own_export(request, export_id)
    try:
        again = export_request_again(user=request.user, export=export)
    except TooManyExports as refused:
        messages.error(request, str(refused))
        return redirect("reports:export_status", export_id=export.pk)
    return redirect("reports:export_status", export_id=again.pk)


@require_GET
@role_required(*READERS)
def export_download(request: HttpRequest, export_id: str) -> FileResponse:
    export = _own_export(request, export_id)
    if export.status != ReportExport.Status.DONE or not export.file:
        raise Http404("This binder is not ready.")
    response = FileResponse(
        export.file.open("rb"),
        as_attachment=True,
        filename=export.filename,
        content_type=CONTENT_TYPES["pdf"],
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@role_required(*READERS)
def audit_trail_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditTrailForm(request.GET, auto_id="audit_%s")
    if not form.is_valid():
        return _index(request, audit_form=form, status=400)
    params = report_params(as_of=form.cleaned_data["as_of"])
    fmt = form.cleaned_data["format"]
    response = StreamingHttpResponse(
        audit_chunks(audit_events_until(as_of=params.as_of), fmt), content_type=CONTENT_TYPES[fmt]
    )
    name = f"audit-trail-{params.as_of_date.isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required()
def access_map_view(request: HttpRequest) -> HttpResponse:
    form = AccessMapFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    filters = MapFilters(
        production_only=data.get("production_only", False),
        admin_only=data.get("admin_only", False),
        expiring_only=data.get("expiring_only", False),
        domain=data.get("domain", ""),
        environment=data.get("environment", ""),
        strategy=data.get("strategy", ""),
        search=data.get("q", ""),
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reports/access_map.html",
        {
            "filters": form,
            "map": access_map(filters=filters, page_number=request.GET.get("page")),
            "query": query.urlencode(),
        },
    )


@require_GET
@role_required(*READERS)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditLogFilterForm(request.GET or None)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    filters = LogFilters(**{k: v for k, v in data.items() if v})
    try:
        before = int(request.GET.get("before", "")) or None
    except ValueError:
        before = None
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "reports/audit_log.html",
        {
            "filters": form,
            "log": audit_log_page(filters, before=before),
            "query": query.urlencode(),
        },
        # Filters the form refuses (a date out of range) show the unfiltered log with the
        # errors, as a 400 so that a script asking for them does not take it for an answer.
        status=400 if form.is_bound and not valid else 200,
    )
