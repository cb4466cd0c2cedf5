"""Access request pages: my requests, the strategy-aware form, the request page."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from approvals import decisions, next_step, policy, rules
from approvals import requests as services
from approvals.forms import AccessRequestForm, RequestFilterForm
from approvals.models import PENDING_STATES, STRATEGY_FIELDS, AccessRequest, Strategy
from approvals.selectors import request_search, request_vendor_choices, request_visible_to
from audit.services import audit_events_for
from fulfilment import merge_review, revocation
from fulfilment.services import request_pull_requests
from keys.selectors import access_keys_for_request, access_keys_state
from keys.services import LIVE_REQUEST_STATES, iam_user_name, key_contact, key_delivery_held
from vendors.selectors import ReviewState, vendor_review_state
from verification.truth import truths_for
from web.views.grant_checks import in_aws_context
from web.views.shared import service_errors_on_form

# What approvals/request_list.html shows of each request. A column shown but missing here
# costs a query per row, which tests/performance/test_query_counts.py notices.
LIST_COLUMNS = (
    "id",
    "vendor__name",
    "strategy",
    "status",
    "risk_level",
    "expires_on",
    "created_at",
)


def _list_rows(page: Any) -> list[tuple[Any, str, str, Any]]:
    """Each request of the page with its strategy, its status and what AWS holds of it."""
    # The choice labels translated once per page: get_FOO_display rebuilds and hashes the
    # field's choices, translating each label, on every call (a quarter of the page's time
    # for 25 rows x 2 columns).
    strategies = {value: str(label) for value, label in Strategy.choices}
    statuses = {value: str(label) for value, label in AccessRequest.Status.choices}
    # A merged grant reads as what AWS holds (two queries for the page, not two a row).
    truths = truths_for(list(page))
    return [
        (
            r,
            strategies.get(r.strategy, r.strategy),
            statuses.get(r.status, r.status),
            truths.get(r.pk),
        )
        for r in page
    ]


@require_GET
@role_required()
def request_list(request: HttpRequest) -> HttpResponse:
    # Only the columns the list shows: the rest of a request (its documents among its JSON
    # fields) and of its vendor (some thirty columns) would be read and decoded for nothing.
    mine = (
        AccessRequest.objects.filter(requester=request.user.pk)
        .select_related("vendor")
        .only(*LIST_COLUMNS)
    )
    page = Paginator(mine.order_by("-created_at"), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "approvals/request_list.html",
        {"page": page, "rows": _list_rows(page)},
    )


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def request_all(request: HttpRequest) -> HttpResponse:
    """Every request, for security and auditors: searched, filtered, paginated (issue 20)."""
    filters = RequestFilterForm(request.GET or None, vendors=request_vendor_choices())
    params = filters.cleaned_data if filters.is_valid() else {}
    found = (
        request_search(
            search=params.get("q", ""),
            status=params.get("status", ""),
            strategy=params.get("strategy", ""),
            vendor_id=params.get("vendor"),
        )
        .select_related("vendor", "requester")
        .only(*LIST_COLUMNS, "requester__username")
    )
    page = Paginator(found, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "approvals/request_list.html",
        {
            "page": page,
            "rows": _list_rows(page),
            "filters": filters,
            "query": query.urlencode(),
            "all_requests": True,
        },
    )


def _form_page(
    request: HttpRequest, form: AccessRequestForm, access_request: AccessRequest | None
) -> HttpResponse:
    problems = services.submission_problems(access_request) if access_request else {}
    return render(
        request,
        "approvals/request_form.html",
        {
            "form": form,
            "access_request": access_request,
            "problems": [m for messages_ in problems.values() for m in messages_],
            "grant_warnings": services.grant_warnings(access_request) if access_request else [],
            "strategy_fields": {k: sorted(v) for k, v in STRATEGY_FIELDS.items()},
        },
        # A refused form is shown again with its errors, as a 400 (what was sent is wrong).
        status=400 if form.is_bound and form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def request_new(request: HttpRequest) -> HttpResponse:
    initial: dict[str, Any] = {"strategy": "role_per_account", "policy_source": "managed"}
    if request.GET.get("vendor", "").isdigit():
        initial["vendor"] = int(request.GET["vendor"])
    form = AccessRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            access_request = services.request_save(actor=request.user, data=form.cleaned_data)
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            return _after_save(request, access_request)
    return _form_page(request, form, None)


def _after_save(request: HttpRequest, access_request: AccessRequest) -> HttpResponse:
    if "submit" in request.POST:
        try:
            services.request_submit(request_id=access_request.pk, actor=request.user)
        except ValidationError as error:
            messages.error(
                request,
                _("Saved as a draft, but not submitted: %(why)s")
                % {"why": " ".join(error.messages)},
            )
            return redirect("approvals:request_edit", pk=access_request.pk)
        messages.success(request, _("Request submitted to the security team."))
    else:
        messages.success(request, _("Draft saved. The checks below are up to date."))
    return redirect("approvals:request_detail", pk=access_request.pk)


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access_request = request_visible_to(pk, request.user)
    if access_request.requester_id != request.user.pk:
        raise PermissionDenied
    if access_request.status != AccessRequest.Status.DRAFT:
        messages.info(request, _("Only drafts can be edited."))
        return redirect("approvals:request_detail", pk=pk)
    form = AccessRequestForm(
        request.POST or None, initial=AccessRequestForm.initial_from(access_request)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.request_save(actor=request.user, data=form.cleaned_data, request_id=pk)
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            return _after_save(request, access_request)
    return _form_page(request, form, access_request)


@require_GET
@role_required()
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, pk)


def _detail_page(
    request: HttpRequest, pk: int, *, extension: dict[str, Any] | None = None
) -> HttpResponse:
    """The request page; `extension` is a refused extension ask, shown again with what was
    typed and why it was refused (a 400, as a refused form)."""
    access_request = request_visible_to(pk, request.user)
    is_requester = access_request.requester_id == request.user.pk
    state = vendor_review_state(access_request.vendor_id)
    access_keys = access_keys_for_request(access_request)
    pull_requests = request_pull_requests(access_request)
    extension_approvals = (
        list(decisions.extension_approvals(access_request).select_related("approver"))
        if access_request.extension_until is not None
        else []
    )
    # Who decides under the rules in force, and who may still approve: only while a decision
    # is open (a decided request names the version it was decided under).
    standing = (
        rules.request_standing(access_request, with_candidates=True)
        if access_request.status == AccessRequest.Status.SUBMITTED
        else None
    )
    extension_standing = (
        rules.extension_standing(access_request, with_candidates=True)
        if access_request.extension_until is not None
        else None
    )
    blockers = services.approval_blockers(access_request, review_state=state)
    approvals = list(access_request.approvals.select_related("approver"))
    grant_pr, revoke_pr = pull_requests["grant"], pull_requests["revoke"]
    grant_merged = grant_pr is not None and grant_pr.state == grant_pr.State.MERGED
    offers_grant_commands = next_step.offers_grant_commands(access_request.status)
    head_review_pr = next(
        (row for row in (grant_pr, revoke_pr) if row is not None and row.awaits_head_review), None
    )
    lead = next_step.standing(
        next_step.Facts(
            status=access_request.status,
            requester=access_request.requester.get_username(),
            approvals=sum(1 for a in approvals if a.decision == a.Decision.APPROVE),
            required_approvals=access_request.required_approvals,
            expires_on=access_request.expires_on,
            grant_pr_number=grant_pr.number if grant_pr else None,
            grant_pr_state=grant_pr.state if grant_pr else "",
            grant_commands_pending=bool(grant_pr and grant_pr.commands_pending)
            and offers_grant_commands,
            revoke_pr_number=revoke_pr.number if revoke_pr else None,
            revoke_pr_state=revoke_pr.state if revoke_pr else "",
            revoke_commands_pending=bool(revoke_pr and revoke_pr.commands_pending),
            extension_until=access_request.extension_until,
            head_review_pending=head_review_pr is not None,
            blocked=bool(blockers) and access_request.status in PENDING_STATES,
            missing=max((row.missing for row in standing.rows), default=0) if standing else None,
            candidates=tuple(
                sorted(
                    {name for row in standing.rows if not row.met for name in row.can_still_approve}
                )
            )
            if standing
            else (),
        )
    )
    # The audit events as named steps; the status labels once for the page (see request_list).
    statuses = {value: str(label) for value, label in AccessRequest.Status.choices}
    events = list(audit_events_for(access_request).select_related("actor"))
    return render(
        request,
        "approvals/request_detail.html",
        {
            "r": access_request,
            "accounts": access_request.target_accounts.order_by("domain", "environment", "quality"),
            "timeline": events,
            "steps": next_step.timeline_steps(events, statuses),
            # Where it stands, the next step and who takes it: the page's lead (issue 20).
            "lead": lead,
            "change_heading": next_step.change_heading(access_request.status, grant_merged),
            "grant_merged": grant_merged,
            # A closed request's change is not to be applied: its commands are not offered.
            "offers_grant_commands": offers_grant_commands,
            "review_state": state,
            "review_state_label": ReviewState.LABELS[state],
            "blockers": blockers,
            "grant_warnings": services.grant_warnings(access_request),
            "uses": STRATEGY_FIELDS[access_request.strategy],
            "can_edit": is_requester and access_request.status == AccessRequest.Status.DRAFT,
            "can_withdraw": is_requester and access_request.status in PENDING_STATES,
            "can_duplicate": can_write(request.user),
            "approvals": approvals,
            "grant_pr": grant_pr,
            "revoke_pr": revoke_pr,
            "merged_with_commands": [
                row
                for row in pull_requests.values()
                if row is not None
                and row.commands
                and row.state == row.State.MERGED
                and (offers_grant_commands or row.purpose == row.Purpose.REVOKE)
            ],
            # The policy's answers, which the services check again: the page offers only
            # what they would accept, bar the second factor (a warning says so).
            "can_decide": policy.may_decide(request.user, access_request, standing).allowed,
            "standing": standing,
            "extension_standing": extension_standing,
            "can_revoke": policy.may_revoke(request.user, access_request).allowed,
            "mfa_verified": session_mfa_verified(request),
            # One ask at a time on the page (asking again would start a new round).
            "can_extend": policy.may_extend(request.user, access_request).allowed
            and access_request.extension_until is None,
            # Not for one who approved this ask already: they count once.
            "can_decide_extension": policy.may_decide_extension(
                request.user, access_request, extension_approvals, extension_standing
            ).allowed,
            "extension_approvals": extension_approvals,
            "can_acknowledge_merge": policy.may_acknowledge_merge(
                request.user, access_request
            ).allowed
            and (
                access_request.status == AccessRequest.Status.MERGE_MISMATCH
                or head_review_pr is not None
            ),
            "head_review_pr": head_review_pr,
            "access_keys": access_keys,
            "key_state": access_keys_state(access_request, access_keys),
            "iam_user_name": iam_user_name(access_request),
            # Only an IAM-user grant has keys: whoever approves it sees who will receive them,
            # and whether a change of that recipient holds the links.
            "key_recipient": key_contact(access_request.vendor_id)
            if access_request.strategy == Strategy.IAM_USER
            else None,
            "key_delivery_held": access_request.strategy == Strategy.IAM_USER
            and key_delivery_held(access_request.vendor_id),
            "can_reissue_key": has_role(request.user, Role.SECURITY)
            and access_request.strategy == Strategy.IAM_USER
            and access_request.status in LIVE_REQUEST_STATES,
            **in_aws_context(request, access_request, pull_requests),
            "extension": extension or {},
        },
        status=400 if extension else 200,
    )


@require_POST
@role_required(write=True)
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.request_submit(request_id=pk, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("approvals:request_edit", pk=pk)
    messages.success(request, _("Request submitted to the security team."))
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(write=True)
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    request_visible_to(pk, request.user)
    try:
        services.request_withdraw(request_id=pk, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Request withdrawn."))
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(write=True)
def request_duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    request_visible_to(pk, request.user)
    copy = services.request_duplicate(request_id=pk, actor=request.user)
    messages.success(request, _("A new draft with the same choices. Set its end date."))
    return redirect("approvals:request_edit", pk=copy.pk)


def _decide(request: HttpRequest, pk: int, decide: Any, done: str) -> HttpResponse:
    request_visible_to(pk, request.user)
    try:
        decide(pk, request.POST.get("comment", ""), session_mfa_verified(request))
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text or _("You may not do this."))
    else:
        messages.success(request, done)
    if request.POST.get("next") == "dashboard":  # approved from the dashboard: back there
        return redirect("dashboard")
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(Role.SECURITY, write=True)
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda i, c, m: decisions.request_approve(
            request_id=i, approver=request.user, mfa_verified=m, comment=c
        ),
        _("Approval recorded."),
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda i, c, m: decisions.request_reject(
            request_id=i, approver=request.user, mfa_verified=m, comment=c
        ),
        _("Request rejected."),
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def request_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda i, c, m: revocation.request_revoke(
            request_id=i, actor=request.user, mfa_verified=m, reason=c
        ),
        _("Access revoked."),
    )


@require_POST
@role_required(write=True)
def request_extend(request: HttpRequest, pk: int) -> HttpResponse:
    request_visible_to(pk, request.user)
    # A refused ask shows the page again with the date and reason as typed, each error next
    # to its field: the requester corrects it instead of starting over.
    typed = {"until": request.POST.get("until", ""), "reason": request.POST.get("reason", "")}
    errors: dict[str, list[str]] = {}
    try:
        until = date.fromisoformat(typed["until"])
    except ValueError:
        errors["until"] = [_("Enter the new end date as YYYY-MM-DD.")]
        if not typed["reason"].strip():
            errors["reason"] = [_("Say why the vendor still needs the access.")]
        return _detail_page(request, pk, extension={**typed, "errors": errors})
    try:
        decisions.request_extension_ask(
            request_id=pk, actor=request.user, until=until, reason=typed["reason"]
        )
    except PermissionDenied as error:
        errors["general"] = [str(error)]
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            errors.update(error.message_dict)
        else:
            errors["general"] = list(error.messages)
    if errors:
        return _detail_page(request, pk, extension={**typed, "errors": errors})
    messages.success(request, _("Extension asked: it needs the grant's own approvals."))
    return redirect("approvals:request_detail", pk=pk)


@require_POST
@role_required(Role.SECURITY, write=True)
def request_extension_decide(request: HttpRequest, pk: int) -> HttpResponse:
    approve = request.POST.get("decision") == "grant"
    return _decide(
        request,
        pk,
        lambda i, c, m: decisions.request_extension_decide(
            request_id=i, approver=request.user, approve=approve, mfa_verified=m, comment=c
        ),
        _("Extension approval recorded.") if approve else _("Extension refused."),
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def request_merge_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda i, c, m: merge_review.request_merge_acknowledge(
            request_id=i, actor=request.user, mfa_verified=m, comment=c
        ),
        _("Merge reviewed: the access is active."),
    )


urlpatterns = [
    path("requests/", request_list, name="requests"),
    path("requests/all/", request_all, name="requests_all"),
    path("requests/new/", request_new, name="request_new"),
    path("requests/<int:pk>/", request_detail, name="request_detail"),
    path("requests/<int:pk>/edit/", request_edit, name="request_edit"),
    path("requests/<int:pk>/submit/", request_submit, name="request_submit"),
    path("requests/<int:pk>/withdraw/", request_withdraw, name="request_withdraw"),
    path("requests/<int:pk>/duplicate/", request_duplicate, name="request_duplicate"),
    path("requests/<int:pk>/approve/", request_approve, name="request_approve"),
    path("requests/<int:pk>/reject/", request_reject, name="request_reject"),
    path("requests/<int:pk>/revoke/", request_revoke, name="request_revoke"),
    path("requests/<int:pk>/extend/", request_extend, name="request_extend"),
    path("requests/<int:pk>/extension/", request_extension_decide, name="request_extension_decide"),
    path(
        "requests/<int:pk>/merge-review/",
        request_merge_acknowledge,
        name="request_merge_acknowledge",
    ),
]
