"""Rate limits: per token (PORTAL_API_RATE), and per address for refused tokens
(PORTAL_API_ANON_RATE). Counted in the default cache, Redis in production, so every gunicorn
worker counts the same calls."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accessportal.client_ip import client_ip
from api.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not isinstance(request.auth, ApiToken):
            return None  # the docs' session readers: no token to count
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class RefusedTokenThrottle(SimpleRateThrottle):
    """Counted only on a refused token (authentication.py), by the client's address."""

    scope = "anonymous"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {
            "scope": self.scope,
            "ident": client_ip(request._request) or "unknown",
        }
