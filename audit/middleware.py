"""HTTP middleware of the approvals app."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accessportal.client_ip import client_ip
from audit.services import audit_context


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
