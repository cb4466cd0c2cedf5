"""The audit event stream's pages (security only): endpoints, their health, dead letters.

The new endpoint's secret is shown once, in the answer to the POST that created it (never
cached, no referrer): nothing stores it in clear, so no later page can show it again.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, role_required
from eventstream import selectors, services
from eventstream.forms import EndpointForm
from eventstream.models import EventDelivery, EventEndpoint


def _error_text(error: ValidationError) -> str:
    return " ".join(str(m) for m in error.messages)


def _list(request: HttpRequest, form: EndpointForm | None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "eventstream/endpoint_list.html",
        {
            "rows": selectors.endpoints_health(),
            "dead_letters": selectors.dead_letters(),
            "form": form or EndpointForm(),
        },
        status=status,
    )


@require_GET
@role_required(Role.SECURITY)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    return _list(request, None)


@sensitive_variables()  # error reports (ADMINS e-mails) show none of these frames' locals
@require_POST
@role_required(Role.SECURITY, write=True)
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    try:
        created = services.endpoint_create(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("events:list")
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _list(request, form, status=400)
    return _secret_once(request, created, rotated=False)


def _secret_once(
    request: HttpRequest, created: services.CreatedEndpoint, *, rotated: bool
) -> HttpResponse:
    response = render(
        request,
        "eventstream/endpoint_created.html",
        # The only place the plaintext leaves the Secret: this one response.
        {"endpoint": created.endpoint, "secret": created.secret.reveal(), "rotated": rotated},
    )
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


@sensitive_variables()  # error reports (ADMINS e-mails) show none of these frames' locals
@require_POST
@role_required(Role.SECURITY, write=True)
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        created = services.endpoint_rotate_secret(
            actor=request.user, mfa_verified=session_mfa_verified(request), endpoint_id=pk
        )
    except EventEndpoint.DoesNotExist:
        messages.error(request, _("No such endpoint."))
        return redirect("events:list")
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("events:detail", pk=pk)
    return _secret_once(request, created, rotated=True)


@require_GET
@role_required(Role.SECURITY)
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        health = selectors.endpoint_health(pk)
    except EventEndpoint.DoesNotExist:
        messages.error(request, _("No such endpoint."))
        return redirect("events:list")
    return render(
        request,
        "eventstream/endpoint_detail.html",
        {
            "row": health,
            "endpoint": health.endpoint,
            "dead_letters": selectors.dead_letters(pk),
            "retrying": health.endpoint.deliveries.filter(status=EventDelivery.Status.PENDING),
        },
    )


def _security_change(request: HttpRequest, change: Callable[[], object], done: str) -> bool:
    """Runs `change`, saying what happened; True when it succeeded."""
    try:
        change()
    except (EventEndpoint.DoesNotExist, EventDelivery.DoesNotExist):
        messages.error(request, _("No such endpoint or dead letter."))
    except PermissionDenied as error:
        messages.error(request, str(error))
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, done)
        return True
    return False


@require_POST
@role_required(Role.SECURITY, write=True)
def endpoint_active(request: HttpRequest, pk: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    _security_change(
        request,
        lambda: services.endpoint_set_active(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            endpoint_id=pk,
            active=active,
        ),
        _("Endpoint resumed: it receives what it missed, in order.")
        if active
        else _("Endpoint paused: events wait for it in the audit log."),
    )
    return redirect("events:detail", pk=pk)


@require_POST
@role_required(Role.SECURITY, write=True)
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _security_change(
        request,
        lambda: services.endpoint_delete(
            actor=request.user, mfa_verified=session_mfa_verified(request), endpoint_id=pk
        ),
        _("Endpoint deleted."),
    )
    return redirect("events:list")


@require_POST
@role_required(Role.SECURITY, write=True)
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    _security_change(
        request,
        lambda: services.delivery_redeliver(
            actor=request.user, mfa_verified=session_mfa_verified(request), delivery_id=pk
        ),
        _(
            "Queued: the event is sent again, with its delivery id, by the next pass (once "
            "the endpoint is active)."
        ),
    )
    back = request.POST.get("back")
    if back and back.isdigit():
        return redirect("events:detail", pk=int(back))
    return redirect("events:list")
