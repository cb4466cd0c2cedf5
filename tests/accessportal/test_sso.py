"""OpenID Connect single sign-on against a real OIDC provider on loopback (no internet)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import oidc_provider_mock
import pytest
import requests
from django.contrib.auth import get_user_model

from accessportal.roles import Role, user_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def oidc_server(settings):
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": "corp",
                        "name": "Corp SSO",
                        "client_id": "portal",
                        "secret": "portal-secret",
                        "settings": {"server_url": url},
                    }
                ],
            }
        }
        yield url


def test_sso_login_creates_a_requester_and_signs_in(client, oidc_server):
    login_page = client.get("/accounts/login/").content.decode()
    assert "Corp SSO" in login_page

    start = client.post("/accounts/oidc/corp/login/")
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(oidc_server)

    # The person authenticates at the provider, which redirects back with a code.
    answer = requests.post(
        authorize,
        data={"sub": "dana@example.com", "email": "dana@example.com"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    assert "code" in parse_qs(callback.query)

    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302
    user = get_user_model().objects.get(socialaccount__uid="dana@example.com")
    assert int(client.session["_auth_user_id"]) == user.pk
    assert user_roles(user) == {Role.REQUESTERS}
    assert client.get("/").status_code == 200


def test_sso_is_hidden_when_not_configured(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    assert "Corp SSO" not in client.get("/accounts/login/").content.decode()
