"""Fixtures of the API tests: tokens made through the portal's own service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accessportal.roles import Role
from api import tokens
from tests.fulfilment.helpers import reviewed_vendor as reviewed_vendor_of


@pytest.fixture
def reviewed_vendor(engineer, make_user):
    """A vendor whose SOC 2 review security approved: its requests can be decided."""
    return reviewed_vendor_of(engineer, make_user("rita", Role.SECURITY))


@pytest.fixture
def token_for(db) -> Callable[..., str]:
    """The plaintext of a new token of `user`'s. An approving token is made as the portal
    makes it: by a session that passed the second factor (which is what lets it approve)."""

    def make(user: Any, scope: str = "request", *, days: int = 30) -> str:
        issued = tokens.token_create(
            owner=user,
            name=f"{user.username} {scope}",
            scope=scope,
            expires_on=timezone.localdate() + timedelta(days=days),
            mfa_verified=scope == "approve",
        )
        return issued.plaintext

    return make


@pytest.fixture
def api() -> Callable[[str], APIClient]:
    """A client that sends `Authorization: Bearer <token>` and JSON."""

    def client(token: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        c.default_format = "json"
        return c

    return client
