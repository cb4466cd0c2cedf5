"""`Authorization: Bearer vap_...`: the API's only credential (README "REST API")."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from api import tokens
from api.throttling import RefusedTokenThrottle


class TokenAuthentication(BaseAuthentication):
    """Finds the token's owner; a refused token answers 401, and too many refusals from one
    address answer 429 (a guesser learns nothing faster than the rate allows)."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        try:
            if len(header) != 2:
                raise tokens.TokenRefused("Send one token: Authorization: Bearer vap_...")
            return self._owner_and_token(header[1].decode("ascii"))
        except UnicodeDecodeError:
            self._count_refusal(request)
            raise exceptions.AuthenticationFailed("This token is not valid.") from None
        except tokens.TokenRefused as refused:
            self._count_refusal(request)
            raise exceptions.AuthenticationFailed(str(refused)) from None

    @staticmethod
    def _owner_and_token(presented: str) -> tuple[Any, Any]:
        token = tokens.token_authenticate(presented)
        return token.owner, token

    @staticmethod
    def _count_refusal(request: Request) -> None:
        throttle = RefusedTokenThrottle()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            raise exceptions.Throttled(throttle.wait())

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
