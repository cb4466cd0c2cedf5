"""Personal API tokens: made here and shown once, listed, revoked (README "REST API")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, has_role, role_required
from api import tokens
from api.forms import ApiTokenForm
from api.models import ApiToken
from web.views.shared import service_errors_on_form


def _page(
    request: HttpRequest, form: ApiTokenForm, issued: Any = None, status: int = 200
) -> HttpResponse:
    response = render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": tokens.tokens_visible_to(request.user).order_by("-created_at")[:200],
            "everyone": has_role(request.user, Role.SECURITY),
            "mfa_verified": session_mfa_verified(request),
            "scopes": ApiToken.Scope,
        },
        status=status,
    )
    # The page that shows a new secret must not be kept by a browser or a proxy.
    add_never_cache_headers(response)
    return response


@require_GET
@role_required()
def token_list(request: HttpRequest) -> HttpResponse:
    return _page(request, ApiTokenForm(user=request.user))


@require_POST
@role_required()
def token_create(request: HttpRequest) -> HttpResponse:
    """Auditors too may make a (read) token: it changes nothing in the portal."""
    form = ApiTokenForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            issued = tokens.token_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_on=form.cleaned_data["expires_on"],
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            # Shown in this answer only: no redirect, so the secret is never in a session.
            return _page(request, ApiTokenForm(user=request.user), issued=issued)
    return _page(request, form, status=400)


@require_POST
@role_required()
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if not ApiToken.objects.filter(pk=pk).exists():
        raise PermissionDenied
    try:
        token = tokens.token_revoke(
            token_id=pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("tokens:list")
