"""Vendor access nobody approved: the findings of the external-access scan (security only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, role_required
from vendors.models import Vendor
from verification import findings
from verification.models import ExternalAccessFinding


def _error_text(error: ValidationError) -> str:
    return " ".join(str(m) for m in error.messages)


@require_GET
@role_required(Role.SECURITY)
def finding_list(request: HttpRequest) -> HttpResponse:
    rows = list(ExternalAccessFinding.objects.select_related("adopted_request", "decided_by"))
    by_status = [
        (label, [f for f in rows if f.status == status])
        for status, label in ExternalAccessFinding.Status.choices
    ]
    run = findings.latest_scan()
    return render(
        request,
        "verification/findings.html",
        {
            "by_status": by_status,
            "run": run,
            "unreadable": (run.outcome or {}).get("unreadable", []) if run else [],
            "vendors": Vendor.objects.filter(status=Vendor.Status.ACTIVE).order_by("name"),
            "can_decide": can_write(request.user),
            "reason_max": findings.REASON_MAX_LENGTH,
        },
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def scan_now(request: HttpRequest) -> HttpResponse:
    try:
        _run, queued = findings.external_access_scan_request(
            actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("verification:findings")
    if queued:
        messages.success(request, _("Scan queued."))
    else:
        messages.info(request, _("A scan is already queued or running."))
    return redirect("verification:findings")


@require_GET
@role_required(Role.SECURITY)
def scan_status_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(findings.scan_status(findings.latest_scan()))


@require_POST
@role_required(Role.SECURITY, write=True)
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        findings.finding_acknowledge(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            finding_id=pk,
            reason=request.POST.get("reason", ""),
        )
    except ExternalAccessFinding.DoesNotExist:
        messages.error(request, _("No such finding."))
    except (PermissionDenied, ValidationError) as error:
        text = _error_text(error) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text)
    else:
        messages.success(request, _("Finding acknowledged."))
    return redirect("verification:findings")


@require_POST
@role_required(Role.SECURITY, write=True)
def adopt(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        vendor_id = int(request.POST.get("vendor", ""))
    except ValueError:
        messages.error(request, _("Choose the vendor."))
        return redirect("verification:findings")
    try:
        finding = findings.finding_adopt(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            finding_id=pk,
            vendor_id=vendor_id,
        )
    except (ExternalAccessFinding.DoesNotExist, Vendor.DoesNotExist):
        messages.error(request, _("No such finding or vendor."))
    except (PermissionDenied, ValidationError) as error:
        text = _error_text(error) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text)
    else:
        messages.success(request, _("Draft request created: review it and submit it."))
        return redirect("approvals:request_detail", finding.adopted_request_id)
    return redirect("verification:findings")
