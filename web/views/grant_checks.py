"""The request page's "In AWS" panel: what AWS last held, "Verify in AWS now" with its
progress, and the demo's operator actions on the AWS emulator (issue 17)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, has_role, role_required
from approvals.models import AccessRequest
from approvals.selectors import request_visible_to
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from verification.emulator import emulator_action, emulator_available
from verification.grants import grants_verify_request
from verification.models import GrantCheck, RunStatus, VerificationRun
from verification.truth import truth_of


def in_aws_context(
    request: HttpRequest,
    access_request: AccessRequest,
    pull_requests: dict[str, PullRequest | None],
) -> dict[str, Any]:
    """What the request page shows of AWS; empty (and no query) before the grant's pull
    request merged. `pull_requests` is the page's own (fulfilment.services)."""
    grant_pr, revoke_pr = pull_requests.get("grant"), pull_requests.get("revoke")
    if grant_pr is None or grant_pr.state != PullRequest.State.MERGED:
        return {"truth": None}
    check = GrantCheck.objects.filter(access_request=access_request).first()
    truth = truth_of(
        access_request,
        check,
        grant_merged=True,
        removal_merged=revoke_pr is not None and revoke_pr.state == PullRequest.State.MERGED,
    )
    if truth is None:
        return {"truth": None}
    rows: list[dict[str, Any]] = list(check.accounts) if check is not None else []
    names = dict(
        AwsAccount.objects.filter(account_id__in=[a.get("account_id") for a in rows]).values_list(
            "account_id", "name"
        )
    )
    states = dict(GrantCheck.State.choices)
    accounts = [
        {
            **row,
            "name": names.get(str(row.get("account_id")), ""),
            "state_label": states.get(str(row.get("state")), row.get("state")),
        }
        for row in rows
    ]
    is_security = has_role(request.user, Role.SECURITY)
    running = (
        VerificationRun.objects.filter(access_request=access_request, status=RunStatus.RUNNING)
        .order_by("-started_at")
        .first()
    )
    return {
        "truth": truth,
        "grant_check": check,
        "check_accounts": accounts,
        "verify_run": running,
        "can_verify": is_security,
        "emulator_actions": is_security and emulator_available(),
    }


@require_POST
@role_required(Role.SECURITY)
def grant_verify_now(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = request_visible_to(pk, request.user)
    try:
        _run, created = grants_verify_request(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            access_request=access_request,
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("approvals:request_detail", pk=pk)
    if created:
        messages.success(request, _("Verification in AWS queued."))
    else:
        messages.info(request, _("A verification of this grant is already queued or running."))
    return redirect("approvals:request_detail", pk=pk)


@require_GET
@role_required()
def grant_verify_status(request: HttpRequest, pk: int, run_id: int) -> JsonResponse:
    access_request = request_visible_to(pk, request.user)
    run = get_object_or_404(VerificationRun, pk=run_id, access_request=access_request)
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "accounts_done": run.accounts_done,
            "accounts_total": run.accounts_total,
            "percent": run.percent,
            "error": run.error,
        }
    )


@require_POST
@role_required(Role.SECURITY)
def grant_emulator_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    access_request = request_visible_to(pk, request.user)
    try:
        written = emulator_action(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            access_request=access_request,
            action=action,
        )
    except (PermissionDenied, ValueError) as error:
        messages.error(request, str(error))
        return redirect("approvals:request_detail", pk=pk)
    messages.success(
        request,
        _("The emulator changed (%(n)s item(s)); verification queued.") % {"n": written},
    )
    return redirect("approvals:request_detail", pk=pk)


urlpatterns = [
    path("requests/<int:pk>/verify/", grant_verify_now, name="request_verify"),
    path(
        "requests/<int:pk>/verify/<int:run_id>/status/",
        grant_verify_status,
        name="request_verify_status",
    ),
    path(
        "requests/<int:pk>/emulator/<slug:action>/",
        grant_emulator_action,
        name="request_emulator_action",
    ),
]
