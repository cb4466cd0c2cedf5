"""Fulfilment pages: the local forge's pull requests (security; auditors read them), merge,
retry and progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from approvals.selectors import request_visible_to
from fulfilment import revocation
from fulfilment import services as fulfilment
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest


def _local(number: int) -> PullRequest:
    row = (
        PullRequest.objects.select_related("access_request__vendor")
        .filter(forge=PullRequest.Forge.LOCAL, number=number)
        .first()
    )
    if row is None:
        raise Http404(_("No such pull request."))
    return row


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def pullrequest_list(request: HttpRequest) -> HttpResponse:
    rows = PullRequest.objects.filter(
        forge=PullRequest.Forge.LOCAL, number__isnull=False
    ).select_related("access_request__vendor")
    return render(request, "approvals/pullrequest_list.html", {"pull_requests": rows})


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def pullrequest_detail(request: HttpRequest, number: int) -> HttpResponse:
    row = _local(number)
    return render(
        request,
        "approvals/pullrequest_detail.html",
        {
            "pr": row,
            "files": fulfilment.pull_request_diff(row),
            "mfa_verified": session_mfa_verified(request),
            "can_merge": has_role(request.user, Role.SECURITY) and can_write(request.user),
        },
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def pullrequest_merge(request: HttpRequest, number: int) -> HttpResponse:
    row = _local(number)
    try:
        fulfilment_sync.local_pull_request_merge(
            pr_id=row.pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(request, _("Pull request merged."))
    return redirect("approvals:pullrequest_detail", number=number)


@require_POST
@role_required(Role.SECURITY, write=True)
def request_provision_retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        fulfilment.request_retry(
            request_id=pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(request, _("Provisioning queued again."))
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(Role.SECURITY, write=True)
def request_revoke_retry(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        revocation.request_revoke_retry(
            request_id=pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(request, _("Revocation queued again."))
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(Role.SECURITY, write=True)
def request_commands_done(request: HttpRequest, pk: int) -> HttpResponse:
    pr_id = request.POST.get("pr", "")
    try:
        fulfilment.pull_request_commands_done(
            request_id=pk,
            pr_id=int(pr_id) if pr_id.isdigit() else None,
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(request, _("Recorded: the commands were run."))
    return redirect("approvals:request_detail", pk=pk)


@require_GET
@role_required()
def request_progress(request: HttpRequest, pk: int) -> JsonResponse:
    access_request = request_visible_to(pk, request.user)
    return JsonResponse(fulfilment.request_progress(access_request))


urlpatterns = [
    path("pulls/", pullrequest_list, name="pullrequests"),
    path("pulls/<int:number>/", pullrequest_detail, name="pullrequest_detail"),
    path("pulls/<int:number>/merge/", pullrequest_merge, name="pullrequest_merge"),
    path("requests/<int:pk>/retry/", request_provision_retry, name="request_provision_retry"),
    path("requests/<int:pk>/revoke/retry/", request_revoke_retry, name="request_revoke_retry"),
    path("requests/<int:pk>/commands-done/", request_commands_done, name="request_commands_done"),
    path("requests/<int:pk>/progress/", request_progress, name="request_progress"),
]
