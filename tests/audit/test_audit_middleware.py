"""The request's client address reaches audit events through AuditContextMiddleware."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse

from audit.middleware import AuditContextMiddleware
from audit.models import AuditEvent
from audit.services import audit_record, current_source_ip

pytestmark = pytest.mark.django_db


def _record_view(request: HttpRequest) -> HttpResponse:
    event = audit_record(actor=request.user, action="vendor.view")
    return HttpResponse(str(event.pk))


def _ip_of_event(rf, **meta: str) -> str | None:
    request = rf.get("/vendors/", **meta)
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    response = AuditContextMiddleware(_record_view)(request)
    return AuditEvent.objects.get(pk=int(response.content)).source_ip


def test_middleware_is_installed_after_authentication():
    middleware = django_settings.MIDDLEWARE
    auth = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert middleware[auth + 1] == "audit.middleware.AuditContextMiddleware"


def test_remote_address_is_recorded(rf):
    assert _ip_of_event(rf, REMOTE_ADDR="203.0.113.7") == "203.0.113.7"


def test_ipv6_remote_address_is_recorded_in_canonical_form(rf):
    assert _ip_of_event(rf, REMOTE_ADDR="2001:DB8:0:0::7") == "2001:db8::7"


def test_forwarded_for_is_ignored_without_trusted_proxies(rf, settings):
    assert settings.PORTAL_TRUSTED_PROXY_COUNT == 0  # the default: no proxy trusted
    ip = _ip_of_event(rf, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert ip == "10.0.0.2"
    settings.PORTAL_TRUSTED_PROXY_COUNT = 0
    ip = _ip_of_event(rf, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert ip == "10.0.0.2"


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        # The client may prepend anything; one trusted proxy appended the real address last.
        (1, "6.6.6.6, 198.51.100.9", "198.51.100.9"),
        (2, "6.6.6.6, 198.51.100.9, 10.0.0.1", "198.51.100.9"),
        (1, " 2001:db8::9 ", "2001:db8::9"),
        # Fewer hops than trusted proxies: the header did not come from them.
        (2, "198.51.100.9", "10.0.0.2"),
        # Not an address: ignored.
        (1, "unknown", "10.0.0.2"),
        (1, "198.51.100.9:4431", "10.0.0.2"),
        (1, "", "10.0.0.2"),
    ],
)
def test_forwarded_for_is_read_that_many_hops_from_the_right(
    rf, settings, proxies, forwarded_for, expected
):
    settings.PORTAL_TRUSTED_PROXY_COUNT = proxies
    ip = _ip_of_event(rf, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert ip == expected


def test_unusable_remote_address_records_no_address(rf):
    assert _ip_of_event(rf, REMOTE_ADDR="unix:/run/gunicorn.sock") is None


def test_explicit_source_ip_wins_over_the_request(rf):
    def view(request: HttpRequest) -> HttpResponse:
        event = audit_record(actor=None, action="vendor.view", source_ip="192.0.2.99")
        return HttpResponse(str(event.pk))

    request = rf.get("/", REMOTE_ADDR="203.0.113.7")
    response = AuditContextMiddleware(view)(request)
    assert AuditEvent.objects.get(pk=int(response.content)).source_ip == "192.0.2.99"


def test_address_is_forgotten_after_the_request_even_when_the_view_fails(rf):
    seen = []

    def failing_view(request: HttpRequest) -> HttpResponse:
        seen.append(current_source_ip())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        AuditContextMiddleware(failing_view)(rf.get("/", REMOTE_ADDR="203.0.113.7"))
    assert seen == ["203.0.113.7"]
    assert current_source_ip() is None
    assert audit_record(actor=None, action="system.after_request").source_ip is None
