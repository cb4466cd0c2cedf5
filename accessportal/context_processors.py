"""Template context shared by every page: the navigation for the viewer's roles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from accessportal.roles import Role, user_roles

# (url name, label, roles that see it; empty = every signed-in user). Later features add rows.
NAVIGATION: list[tuple[str, Any, frozenset[str]]] = [
    ("dashboard", _("Dashboard"), frozenset()),
    ("approvals:requests", _("My requests"), frozenset()),
    ("approvals:requests_all", _("All requests"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("vendors:list", _("Vendors"), frozenset()),
    ("approvals:accounts", _("AWS accounts"), frozenset()),
    ("reports:access_map", _("Access map"), frozenset()),
    ("reports:index", _("Reports"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("reports:audit_log", _("Audit log"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("approvals:pullrequests", _("Pull requests"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("approvals:rules", _("Approval rules"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("recertification:campaigns", _("Re-certification"), frozenset({Role.SECURITY, Role.AUDITORS})),
    ("events:list", _("Event stream"), frozenset({Role.SECURITY})),
    ("admin:index", _("Admin"), frozenset({Role.SECURITY})),
]


def portal(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries and role flags for the signed-in user."""
    roles = user_roles(request.user)
    nav = []
    if roles:
        current = request.path
        for name, label, needs in NAVIGATION:
            if needs and not (needs & roles):
                continue
            try:
                url = reverse(name)
            except NoReverseMatch:  # a feature not installed in this deployment
                continue
            active = current == url or (url != "/" and current.startswith(url))
            nav.append({"url": url, "label": label, "active": active})
        # One current entry: the longest match ("All requests" under /requests/all/, not
        # "My requests" too).
        current_urls = [item["url"] for item in nav if item["active"]]
        if len(current_urls) > 1:
            longest = max(current_urls, key=len)
            for item in nav:
                item["active"] = item["url"] == longest
    return {
        "portal_nav": nav,
        "portal_roles": sorted(roles),
        "is_security": Role.SECURITY in roles,
        "is_auditor": Role.AUDITORS in roles,
        "portal_organization": settings.PORTAL_ORGANIZATION_NAME,
        "signup_open": settings.PORTAL_ALLOW_SIGNUP,
    }
