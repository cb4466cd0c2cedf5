"""Cookies, security headers and login lockout, with the settings a production deployment gets.

The production values are read from a real `manage.py` process started with the production
environment of tests/accessportal/test_configuration.py (whose `check --deploy` test proves that
environment clean), then applied to this process with `override_settings`: the cookies and
headers checked here are the ones that deployment would really send.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.cookies import Morsel
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accessportal.roles import Role
from tests.accessportal.test_configuration import _SESSION_VARS, PRODUCTION
from tests.factories import draft_request, force_login_with_mfa, staging_account
from tests.processes import ROOT
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db

_SECURITY_SETTINGS = (
    "DEBUG",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_AGE",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "CONTENT_SECURITY_POLICY",
    "ACCOUNT_RATE_LIMITS",
)


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    """Password hashing is not under test here, and each of many sign-ins would pay for it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def production_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The security settings that the production environment yields, read by `manage.py`."""
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARS}
    env.update(PRODUCTION, PORTAL_VAR_DIR=str(tmp_path_factory.mktemp("var")))
    script = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {list(_SECURITY_SETTINGS)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    if values["SECURE_PROXY_SSL_HEADER"]:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def production(production_settings: dict[str, Any]):  # type: ignore[no-untyped-def]
    """This process configured as production would be (the test host stays allowed)."""
    with override_settings(**{k: v for k, v in production_settings.items() if k != "DEBUG"}):
        yield production_settings


# Request options for a request that came through the TLS-terminating proxy.
HTTPS: dict[str, Any] = {"headers": {"x-forwarded-proto": "https"}}


def _sign_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(reverse("account_login"), {"login": username, "password": password}, **extra)


def _cookie(response: Any, name: str) -> Morsel[str]:
    assert name in response.cookies, f"{name} not set; got {list(response.cookies)}"
    return response.cookies[name]


# -- production settings ---------------------------------------------------------------------


def test_production_turns_on_every_transport_protection(production_settings):
    assert production_settings["DEBUG"] is False
    assert production_settings["SESSION_COOKIE_SECURE"] is True
    assert production_settings["CSRF_COOKIE_SECURE"] is True
    assert production_settings["SECURE_SSL_REDIRECT"] is True
    assert production_settings["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert production_settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_sign_in_sets_a_secure_httponly_samesite_session_cookie(
    client, make_user, password, production
):
    make_user("erin")
    response = _sign_in(client, "erin", password, **HTTPS)
    assert response.status_code == 302
    session = _cookie(response, "sessionid")
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    # A browser session only: nothing persists the sign-in on a shared machine.
    assert not session["expires"]
    assert not session["max-age"]
    assert production["SESSION_COOKIE_AGE"] <= 12 * 3600  # the server-side session ends too


def test_the_csrf_cookie_is_secure_and_unreadable_by_scripts(client, production):
    response = client.get(reverse("account_login"), **HTTPS)
    token = _cookie(response, "csrftoken")
    assert token["secure"] is True
    assert token["httponly"] is True
    assert token["samesite"] == "Lax"


def test_signing_in_rotates_the_session_key_and_signing_out_ends_it(client, make_user, password):
    make_user("erin")
    planted_session = client.session  # an anonymous session an attacker might have planted
    planted_session["probe"] = 1
    planted_session.save()
    planted = planted_session.session_key
    _sign_in(client, "erin", password)
    signed_in = client.session.session_key
    assert signed_in
    assert signed_in != planted
    client.post(reverse("account_logout"))
    assert client.session.session_key != signed_in
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=signed_in).exists()


def test_plain_http_is_redirected_to_https(client, production):
    response = client.get(reverse("account_login"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


# -- security headers ------------------------------------------------------------------------


def _directives(policy: str) -> dict[str, set[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = set(values)
    return parsed


@pytest.fixture
def pages(make_user) -> dict[str, tuple[Any, str]]:
    """Representative pages with the person who may open each."""
    owner = make_user("owner")
    security = make_user("sec", Role.SECURITY, is_staff=True, is_superuser=True)
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner))
    staging_account()
    request = draft_request(owner, vendor)
    return {
        "login": (None, reverse("account_login")),
        "healthz": (None, reverse("healthz")),
        "not found": (owner, "/no-such-page/"),
        "dashboard": (owner, reverse("dashboard")),
        "vendor list": (owner, reverse("vendors:list")),
        "vendor": (owner, reverse("vendors:detail", kwargs={"pk": vendor.pk})),
        "request form": (owner, reverse("approvals:request_new")),
        "request": (owner, reverse("approvals:request_detail", kwargs={"pk": request.pk})),
        "progress (JSON)": (
            owner,
            reverse("approvals:request_progress", kwargs={"pk": request.pk}),
        ),
        "admin": (security, reverse("admin:approvals_accessrequest_change", args=[request.pk])),
        "static file": (None, "/static/js/request_form.js"),
    }


def test_every_representative_page_carries_the_security_headers(client, pages, production):
    for name, (person, url) in pages.items():
        client.logout()
        if person:
            force_login_with_mfa(client, person)
        response = client.get(url, **HTTPS)
        assert response.status_code in (200, 404), (name, response.status_code)
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["Referrer-Policy"] == "same-origin", name
        assert response["Strict-Transport-Security"] == (
            "max-age=31536000; includeSubDomains; preload"
        ), name
        if name == "static file":
            continue  # served by WhiteNoise before the page middleware; scripts need no CSP
        assert response["X-Frame-Options"] == "DENY", name
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", name
        policy = _directives(response["Content-Security-Policy"])
        assert policy["default-src"] == {"'self'"}, name
        assert policy["script-src"] == {"'self'"}, name  # no unsafe-inline, no unsafe-eval
        assert policy["object-src"] == {"'none'"}, name
        assert policy["base-uri"] == {"'none'"}, name
        assert policy["frame-ancestors"] == {"'none'"}, name
        assert policy["form-action"] == {"'self'"}, name
        assert "camera=()" in response["Permissions-Policy"], name


def test_pages_need_nothing_the_policy_forbids(client, pages):
    """No inline script, event handler or style attribute: the CSP would block them."""
    import re

    for name, (person, url) in pages.items():
        client.logout()
        if person:
            force_login_with_mfa(client, person)
        response = client.get(url)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (name, tag)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), name
        if not url.startswith("/admin/"):  # Django's admin ships its own inline styles
            assert not re.search(r"<[^>]+\sstyle\s*=", html), name


# -- login lockout ---------------------------------------------------------------------------


def _locked_out(response: Any) -> bool:
    return "Too many failed login attempts" in response.content.decode()


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, make_user, password):
    make_user("erin")
    for attempt in range(5):
        response = _sign_in(client, "erin", f"wrong-{attempt}")
        assert not _locked_out(response), attempt
    for login in ("erin", "ERIN"):  # the lock does not depend on the spelling's case
        response = _sign_in(client, login, password)
        assert _locked_out(response), login
        assert "_auth_user_id" not in client.session


def test_the_account_lock_holds_from_any_address(make_user, password):
    make_user("erin")
    for attempt in range(5):
        _sign_in(Client(REMOTE_ADDR=f"198.51.100.{attempt + 1}"), "erin", "wrong")
    fresh = Client(REMOTE_ADDR="203.0.113.9")
    assert _locked_out(_sign_in(fresh, "erin", password))


def test_ten_failures_from_one_address_block_it_for_every_account(make_user, password):
    make_user("victim")
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for number in range(10):  # one try per account: the per-account lock never trips
        _sign_in(attacker, f"user{number}", "guess")
    assert _locked_out(_sign_in(attacker, "victim", password))
    # A forged X-Forwarded-For does not give the attacker a new address.
    spoofed = _sign_in(attacker, "victim", password, headers={"x-forwarded-for": "203.0.113.5"})
    assert _locked_out(spoofed)
    # Someone else, from another address, still signs in.
    other = Client(REMOTE_ADDR="203.0.113.10")
    _sign_in(other, "victim", password)
    assert "_auth_user_id" in other.session


def test_lockout_is_configured_for_brute_force(settings):
    assert settings.ACCOUNT_RATE_LIMITS["login_failed"] == "10/m/ip,5/5m/key"


def test_signing_in_never_redirects_off_site(client, make_user, password):
    make_user("erin")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:x"):
        response = client.post(
            reverse("account_login") + "?next=" + target, {"login": "erin", "password": password}
        )
        assert response.status_code == 302, target
        assert response["Location"] == reverse("dashboard"), target
        client.logout()


# -- behind the TLS proxy: PORTAL_TRUSTED_PROXY_COUNT ----------------------------------------

PROXY = "10.0.0.2"  # every request reaches gunicorn from the proxy's address


def _fail_ten_sign_ins(client: Client) -> None:
    for number in range(10):  # one try per account: the per-account lock never trips
        _sign_in(client, f"user{number}", "guess")


def _through_proxy(client_address: str) -> Client:
    return Client(REMOTE_ADDR=PROXY, headers={"x-forwarded-for": client_address})


def test_behind_one_trusted_proxy_each_client_has_its_own_lockout(settings, make_user, password):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 1
    make_user("victim")
    attacker = _through_proxy("198.51.100.7")
    _fail_ten_sign_ins(attacker)
    assert _locked_out(_sign_in(attacker, "victim", password))
    # Another client behind the same proxy is not locked out with the attacker.
    other = _through_proxy("203.0.113.10")
    _sign_in(other, "victim", password)
    assert "_auth_user_id" in other.session


def test_without_a_trusted_proxy_forwarded_addresses_are_ignored(settings, make_user, password):
    settings.PORTAL_TRUSTED_PROXY_COUNT = 0
    make_user("victim")
    attacker = _through_proxy("198.51.100.7")
    _fail_ten_sign_ins(attacker)
    # A new X-Forwarded-For is no new address: the bucket is the connection's.
    assert _locked_out(_sign_in(_through_proxy("203.0.113.10"), "victim", password))
