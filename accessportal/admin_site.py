"""The admin site: signed in through allauth only, and reachable only with a second factor.

Django's admin has its own login form, which checks a password and nothing else: no second
factor, none of allauth's rate limits or lockout. Here that form is gone (its URL sends the
visitor to allauth's sign-in, which asks for the second factor), and every admin page, custom
views included, refuses a session whose sign-in did not include the MFA step.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accessportal.mfa import session_mfa_verified


def _safe_next(request: HttpRequest) -> str:
    """The page to return to: only a path of this site (an open redirect otherwise)."""
    target = request.GET.get("next") or request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def mfa_step_url(request: HttpRequest, next_url: str) -> str:
    """Where a signed-in person without a verified second factor goes: allauth's MFA
    re-authentication when they have an authenticator, its enrolment page otherwise."""
    from allauth.mfa.models import Authenticator

    has_factor = Authenticator.objects.filter(
        user_id=request.user.pk, type=Authenticator.Type.TOTP
    ).exists()
    if has_factor:
        return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}"
    return reverse("mfa_index")


class PortalAdminSite(admin.AdminSite):
    """Django's admin with allauth's sign-in and an MFA-verified session required."""

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(
            request.user.is_active and request.user.is_staff and session_mfa_verified(request)
        )

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """Never signs anyone in: a GET or a POST alike goes to allauth's sign-in (or the MFA
        step), so a password alone opens nothing."""
        next_url = _safe_next(request)
        if not request.user.is_authenticated:
            login = reverse("account_login")
            return HttpResponseRedirect(f"{login}?{urlencode({'next': next_url})}")
        if not request.user.is_staff or not request.user.is_active:
            raise PermissionDenied
        if not session_mfa_verified(request):
            return HttpResponseRedirect(mfa_step_url(request, next_url))
        return HttpResponseRedirect(next_url)


class PortalAdminConfig(AdminConfig):
    """Installs `PortalAdminSite` as `django.contrib.admin.site`."""

    default_site = "accessportal.admin_site.PortalAdminSite"
