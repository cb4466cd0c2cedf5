"""The AWS account inventory pages: the list, "Sync now", the sync status and the live count.

Every signed-in role may read the inventory (auditors too); only the security team may start
a sync. Each view checks permission, parses its input and calls one service or selector.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from inventory import services as inventory
from inventory.models import AccountSyncRun, AwsAccount

PAGE_SIZE = 50
_TRUE = {"1", "true", "yes", "on"}


class AccountFilterForm(forms.Form):
    """The inventory's search and filters (GET); the name choices come from the inventory."""

    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    domain = forms.ChoiceField(label=gettext_lazy("Domain"), required=False)
    environment = forms.ChoiceField(label=gettext_lazy("Environment"), required=False)
    quality = forms.ChoiceField(label=gettext_lazy("Quality"), required=False)
    account_type = forms.ChoiceField(
        label=gettext_lazy("Type"),
        required=False,
        choices=[("", gettext_lazy("Any type")), *AwsAccount.Type.choices],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any status")), *AwsAccount.Status.choices],
    )

    def __init__(self, *args: Any, values: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, key, anything in (
            ("domain", "domains", gettext_lazy("Any domain")),
            ("environment", "environments", gettext_lazy("Any environment")),
            ("quality", "qualities", gettext_lazy("Any quality")),
        ):
            choice_field: Any = self.fields[field]
            choice_field.choices = [("", anything), *((v, v) for v in values[key])]


@require_GET
@role_required()
def account_list(request: HttpRequest) -> HttpResponse:
    filters = AccountFilterForm(request.GET or None, values=inventory.account_filter_values())
    params = filters.cleaned_data if filters.is_valid() else {}
    accounts = inventory.account_list(
        search=params.get("q", ""),
        domain=params.get("domain", ""),
        environment=params.get("environment", ""),
        quality=params.get("quality", ""),
        account_type=params.get("account_type", ""),
        status=params.get("status", ""),
    )
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    runs = inventory.account_sync_runs_recent(limit=2)
    latest = runs[0] if runs else None
    # While a run is queued or running, the outcome worth showing is the one before it.
    running = latest is not None and latest.status == AccountSyncRun.Status.RUNNING
    previous = runs[1] if running and len(runs) > 1 else None
    return render(
        request,
        "approvals/account_list.html",
        {
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "latest_run": latest,
            "previous_run": previous,
            "can_sync": has_role(request.user, Role.SECURITY) and can_write(request.user),
        },
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def account_sync(request: HttpRequest) -> HttpResponse:
    try:
        _run, queued = inventory.accounts_sync_request(
            actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("approvals:accounts")
    if queued:
        messages.success(request, _("Account sync queued."))
    else:
        messages.info(request, _("A sync is already queued or running."))
    return redirect("approvals:accounts")


@require_GET
@role_required()
def account_sync_status(request: HttpRequest) -> JsonResponse:
    runs = inventory.account_sync_runs_recent(limit=1)
    return JsonResponse(inventory.account_sync_status(runs[0] if runs else None))


@require_GET
@role_required()
def account_count(request: HttpRequest) -> JsonResponse:
    """The live count for the request form: ?domain=..&environment=..&quality=.. (repeatable,
    "all" or absent for all) and include_special=1 to add the special accounts."""
    matching = inventory.accounts_matching(
        domains=request.GET.getlist("domain"),
        environments=request.GET.getlist("environment"),
        qualities=request.GET.getlist("quality"),
        include_special=request.GET.get("include_special", "").lower() in _TRUE,
    )
    sample = list(
        matching.values("account_id", "name", "domain", "environment", "quality")[
            : inventory.COUNT_SAMPLE_SIZE
        ]
    )
    return JsonResponse(
        {
            "count": matching.count(),
            "accounts": [
                {
                    "id": row["account_id"],
                    "name": row["name"],
                    "domain": row["domain"],
                    "environment": row["environment"],
                    "quality": row["quality"],
                }
                for row in sample
            ],
        }
    )


urlpatterns: list[URLPattern] = [
    path("aws-accounts/", account_list, name="accounts"),
    path("aws-accounts/sync/", account_sync, name="accounts_sync"),
    path("aws-accounts/sync/status/", account_sync_status, name="accounts_sync_status"),
    path("aws-accounts/count/", account_count, name="accounts_count"),
]
