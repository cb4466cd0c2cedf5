"""Who may read the API's OpenAPI document and docs: anyone signed in to the portal (a
session) or holding a token. The document names every route and field, nothing more, but a
security tool does not describe itself to strangers."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accessportal.roles import user_roles
from api.authentication import TokenAuthentication
from api.throttling import TokenRateThrottle


class SignedIn(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(user_roles(request.user))


class DocsAccess:
    options: dict[str, Any] = {
        # The token first: DRF takes the 401's challenge from the first class, so a refused
        # token answers 401 (as on every API route), not the session's bare 403.
        "authentication_classes": [TokenAuthentication, SessionAuthentication],
        "permission_classes": [SignedIn],
        "throttle_classes": [TokenRateThrottle],
    }
