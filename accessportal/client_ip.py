"""The client's address, one rule for everything that uses it: audit rows, allauth's login
lockout and rate limits, the key link's rate limit."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def normalize_ip(value: str | None) -> str | None:
    """Returns `value` as a canonical IP address string, or None when it is not an address.

    IPv4-mapped IPv6 addresses become plain IPv4 and scope ids are dropped, so the stored text
    (PostgreSQL `inet` reformats addresses) is the text that was hashed.
    """
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        address = ipaddress.IPv6Address(address.packed)  # drops any %scope
    return str(address)


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
