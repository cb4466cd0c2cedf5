"""Signing in, the dashboard by role, security headers, and MFA enrolment."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.models import WorkerHeartbeat
from accessportal.roles import Role

pytestmark = pytest.mark.django_db


def test_runs_on_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_engineer_signs_in_with_username_and_sees_dashboard(client, make_user, password):
    make_user("erin", first_name="Erin")
    response = client.post(reverse("account_login"), {"login": "erin", "password": password})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Dashboard</h1>" in html
    assert "Welcome, Erin" in html
    assert "requesters" in html
    # Requesters get neither the operations card nor the admin link.
    assert 'data-testid="worker-status"' not in html
    assert reverse("admin:index") not in html


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("erin")
    response = client.post(reverse("account_login"), {"login": "erin", "password": "nope-nope"})
    assert response.status_code == 200
    assert (
        "The username and/or password you specified are not correct." in response.content.decode()
    )
    assert "_auth_user_id" not in client.session


def test_repeated_login_failures_are_rate_limited(client, make_user, password):
    make_user("erin")
    for _ in range(5):
        client.post(reverse("account_login"), {"login": "erin", "password": "wrong-password"})
    response = client.post(reverse("account_login"), {"login": "erin", "password": password})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 429)


def test_security_sees_operations_and_admin_link(client, make_user):
    client.force_login(make_user("sam", Role.SECURITY, is_staff=True))
    html = client.get("/").content.decode()
    assert 'data-testid="worker-status"' in html
    assert "No background worker has reported yet" in html
    assert "You have not enrolled a second factor" in html
    assert f'href="{reverse("admin:index")}"' in html


def test_security_sees_a_live_worker(client, make_user):
    from django.utils import timezone

    WorkerHeartbeat.objects.create(hostname="celery@box", last_seen=timezone.now())
    client.force_login(make_user("sam", Role.SECURITY))
    assert "Background worker alive" in client.get("/").content.decode()


def test_signup_is_closed_by_default(client):
    response = client.get(reverse("account_signup"))
    assert "Sign Up Closed" in response.content.decode()


def test_every_response_carries_security_headers(client):
    response = client.get(reverse("account_login"))
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_logout_needs_a_post(client, make_user):
    client.force_login(make_user("erin"))
    client.get(reverse("account_logout"))
    assert "_auth_user_id" in client.session
    client.post(reverse("account_logout"))
    assert "_auth_user_id" not in client.session


def test_security_member_enrols_totp(client, make_user, password):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import (
        SECRET_SESSION_KEY,
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    user = make_user("sam", Role.SECURITY)
    client.post(reverse("account_login"), {"login": "sam", "password": password})
    # Adding a factor asks for the password again first.
    page = client.get(reverse("mfa_activate_totp"))
    assert page["Location"].startswith(reverse("account_reauthenticate"))
    client.post(page["Location"], {"password": password})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert "Incorrect code" in wrong.content.decode()
    counters = list(yield_hotp_counters_from_time())
    counter = counters[len(counters) // 2]  # the current time step
    code = format_hotp_value(hotp_value(secret, counter))
    response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert "You have not enrolled a second factor" not in client.get("/").content.decode()


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}
