"""The landing page: what needs the viewer's attention, by role, from every app."""

from __future__ import annotations

from datetime import timedelta

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accessportal import selectors
from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, has_role
from approvals.models import DOCUMENT_FIELDS, LIVE_STATES, PENDING_STATES, AccessRequest
from approvals.selectors import extensions_awaiting_decision, requests_awaiting_decision
from fulfilment.selectors import failures_needing_attention, merges_needing_review
from keys.selectors import access_keys_needing_attention
from reports.subprocessors import previous_quarter_end
from vendors.selectors import key_recipient_changes_pending, reviews_awaiting_decision
from verification.findings import open_findings


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: what needs the viewer's attention, by role."""

    soon = timezone.localdate() + timedelta(days=30)
    requests = AccessRequest.objects.defer(*DOCUMENT_FIELDS)
    context: dict[str, object] = {
        # Everyone sees the grants that end within 30 days, so extensions are asked in time.
        "expiring_soon": requests.filter(status__in=LIVE_STATES, expires_on__lte=soon)
        .select_related("vendor")
        .order_by("expires_on")[:10],
        "my_open_requests": requests.filter(requester=request.user.pk, status__in=PENDING_STATES)
        .select_related("vendor")
        .order_by("-created_at")[:10],
    }
    if has_role(request.user, Role.AUDITORS, Role.SECURITY):
        context["last_quarter_end"] = previous_quarter_end(timezone.localdate())
    if has_role(request.user, Role.SECURITY):
        context["reviews_to_decide"] = reviews_awaiting_decision(request.user)[:10]
        context["requests_to_decide"] = requests_awaiting_decision(request.user)[:10]
        context["failures"] = failures_needing_attention()
        context["merges_to_review"] = merges_needing_review()
        context["extensions_to_decide"] = extensions_awaiting_decision(request.user)
        context["keys_needing_attention"] = access_keys_needing_attention()[:10]
        context["key_recipient_changes"] = key_recipient_changes_pending()[:10]
        context["open_findings"] = open_findings()[:20]
        heartbeat = selectors.worker_heartbeat_latest()
        context["worker_heartbeat"] = heartbeat
        context["worker_alive"] = selectors.worker_is_alive(heartbeat)
        # Approving needs a session signed in with a second factor: without one the page says
        # so first, and its Approve buttons are shown disabled.
        context["mfa_enabled"] = is_mfa_enabled(request.user)
        context["mfa_verified"] = session_mfa_verified(request)
    return render(request, "accessportal/dashboard.html", context)
