"""HTTP middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accessportal.roles import can_write


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy and Permissions-Policy headers to every response.

    Django 5.2 has no built-in CSP; the policy allows this origin only, so an injected script
    or a stray third-party asset is refused by the browser.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


class AuditorsReadOnlyAdminMiddleware:
    """Refuses every state-changing admin request (save, delete, bulk action, custom admin
    views) from people who may not write, whatever permissions their account was given.

    Auditors read everything and change nothing (DESIGN.md section 2). The portal's own views
    check `can_write` one by one; the admin has too many entry points for that (each model's
    add, change, delete and actions), so they are all refused here, at the door. Only signing
    out of the admin stays open.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method not in self.SAFE_METHODS
            and self._is_admin_write(request)
            and request.user.is_authenticated
            and not can_write(request.user)
        ):
            raise PermissionDenied
        return self.get_response(request)

    @staticmethod
    def _is_admin_write(request: HttpRequest) -> bool:
        from django.urls import reverse

        return request.path.startswith(reverse("admin:index")) and request.path != reverse(
            "admin:logout"
        )
