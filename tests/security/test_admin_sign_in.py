"""The admin is signed into through allauth (second factor, rate limits) and needs MFA."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.urls import reverse

from accessportal.roles import Role
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.django_db


def _totp_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def _admin_urls() -> list[str]:
    return [reverse("admin:index")] + [
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        for m in admin.site._registry
    ]


def test_a_password_posted_to_the_admin_login_signs_no_one_in(client, make_user, password):
    make_user("sec", Role.SECURITY, is_staff=True, is_superuser=True)
    response = client.post(
        reverse("admin:login"),
        {"username": "sec", "password": password, "next": reverse("admin:index")},
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("account_login")
    assert parse_qs(location.query)["next"] == [reverse("admin:index")]
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_admin_login_never_redirects_off_site(client):
    response = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [reverse("admin:index")]


def test_staff_signed_in_without_a_second_factor_reach_no_admin_page(client, make_user):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    for user in (
        make_user("sec", Role.SECURITY, is_staff=True),
        make_user("root", is_staff=True, is_superuser=True),
    ):
        client.force_login(user)  # a password sign-in, no MFA step
        for url in _admin_urls():
            response = client.get(url)
            assert response.status_code == 302, (user, url)
            assert response["Location"].startswith(reverse("admin:login")), url
        # The admin's login page sends them to enrol a factor, or to use the one they have.
        response = client.get(reverse("admin:login"), {"next": reverse("admin:index")})
        assert response["Location"] == reverse("mfa_index")
        TOTP.activate(user, generate_totp_secret())
        response = client.get(reverse("admin:login"), {"next": reverse("admin:index")})
        assert urlsplit(response["Location"]).path == reverse("mfa_reauthenticate")
        # A custom admin view (security's decision form) is closed too.
        response = client.post(reverse("admin:approvals_accessrequest_decide", args=[1]))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_staff_signed_in_through_allauth_with_totp_reach_the_admin(client, make_user, password):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = make_user("sec", Role.SECURITY, is_staff=True)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    start = client.get(reverse("admin:index"))
    login = client.get(start["Location"])  # the admin's login -> allauth's
    assert urlsplit(login["Location"]).path == reverse("account_login")
    response = client.post(
        login["Location"], {"login": "sec", "password": password, "next": reverse("admin:index")}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("admin:index")).status_code == 302  # half signed in: no admin
    response = client.post(reverse("mfa_authenticate"), {"code": _totp_code(secret)})
    assert response["Location"] == reverse("admin:index")
    for url in _admin_urls():
        assert client.get(url).status_code in (200, 403), url
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_staff_session_without_mfa_verifies_it_and_returns_to_the_admin(
    client, make_user, password
):
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = make_user("sec", Role.SECURITY, is_staff=True)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client.force_login(user)
    step = client.get(reverse("admin:login"), {"next": reverse("admin:index")})["Location"]
    response = client.post(step, {"code": _totp_code(secret)})
    assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_mfa_helper_of_the_tests_gives_an_admin_session(client, make_user):
    force_login_with_mfa(client, make_user("sec", Role.SECURITY, is_staff=True))
    assert client.get(reverse("admin:index")).status_code == 200
