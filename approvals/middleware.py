"""HTTP middleware of the approvals app."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from approvals.audit import audit_context, normalize_ip


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent `request`, or None when it cannot be told.

    X-Forwarded-For is read only behind `PORTAL_TRUSTED_PROXY_COUNT` proxies that we run: each
    of them appends the address it received the request from, so the client is that many
    entries from the right. Entries further left are whatever the client chose to send.
    """
    remote = normalize_ip(request.META.get("REMOTE_ADDR"))
    trusted = int(getattr(settings, "PORTAL_TRUSTED_PROXY_COUNT", 0) or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) < trusted:
        # The request skipped one of our proxies; the header cannot be trusted.
        return remote
    return normalize_ip(hops[-trusted]) or remote


class AuditContextMiddleware:
    """Attributes the audit events recorded while serving a request to the client's address.

    The address lives in a context variable for the duration of the request only, so a worker
    thread never carries it over to the next request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_context(source_ip=client_ip(request)):
            return self.get_response(request)
