"""The API tokens page: made and shown once, stored hashed, listed, revoked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken, MfaVerification
from audit.models import AuditEvent
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.django_db


def _form(**changes):
    return {
        "name": "CI",
        "scope": "request",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        **changes,
    }


def test_a_token_is_shown_once_and_stored_as_a_hash(client, engineer, api):
    client.force_login(engineer)
    page = client.post(reverse("tokens:create"), _form())
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    secret = page.context["issued"].plaintext
    assert secret.startswith("vap_")
    assert secret in page.content.decode()
    token = ApiToken.objects.get()
    assert token.secret_sha256 == hashlib.sha256(secret.split("_", 2)[2].encode()).hexdigest()
    assert secret not in client.get(reverse("tokens:list")).content.decode()
    # Neither the secret nor its hash is in the audit log.
    for event in AuditEvent.objects.all():
        assert secret.split("_", 2)[2] not in str(event.after)
        assert token.secret_sha256 not in str(event.after)
    assert api(secret).get("/api/v1/me/").json()["username"] == "erin"


def test_every_error_of_the_form_at_once(client, engineer):
    client.force_login(engineer)
    page = client.post(
        reverse("tokens:create"),
        _form(name="", scope="approve", expires_on=(timezone.localdate()).isoformat()),
    )
    assert page.status_code == 400
    assert set(page.context["form"].errors) == {"name", "scope"}
    page = client.post(
        reverse("tokens:create"),
        _form(expires_on=(timezone.localdate() + timedelta(days=400)).isoformat()),
    )
    assert page.status_code == 400
    assert "at most 90 days" in page.content.decode()
    assert not ApiToken.objects.exists()


def test_an_approving_token_needs_a_session_with_the_second_factor(client, security):
    client.force_login(security)
    page = client.post(reverse("tokens:create"), _form(scope="approve"))
    assert page.status_code == 400
    assert "second factor" in page.content.decode()
    force_login_with_mfa(client, security)
    page = client.post(reverse("tokens:create"), _form(scope="approve"))
    assert page.status_code == 200
    assert ApiToken.objects.get().scope == "approve"
    assert MfaVerification.objects.get(user=security).verified_at > timezone.now() - timedelta(
        minutes=1
    )


def test_auditors_get_read_tokens_only(client, auditor):
    client.force_login(auditor)
    page = client.get(reverse("tokens:list"))
    assert [value for value, _label in page.context["form"].fields["scope"].choices] == ["read"]
    assert client.post(reverse("tokens:create"), _form(scope="request")).status_code == 400
    assert client.post(reverse("tokens:create"), _form(scope="read")).status_code == 200


def test_owner_and_security_revoke_others_do_not(client, engineer, security, make_user, api):
    client.force_login(engineer)
    secret = client.post(reverse("tokens:create"), _form()).context["issued"].plaintext
    token = ApiToken.objects.get()
    client.force_login(make_user("omar"))
    client.post(reverse("tokens:revoke", args=[token.pk]))
    assert ApiToken.objects.get().revoked_at is None
    # Security sees everyone's token; revoking another's is a security write: MFA first.
    client.force_login(security)
    assert token.pk in {t.pk for t in client.get(reverse("tokens:list")).context["tokens"]}
    client.post(reverse("tokens:revoke", args=[token.pk]))
    assert ApiToken.objects.get().revoked_at is None
    force_login_with_mfa(client, security)
    client.post(reverse("tokens:revoke", args=[token.pk]))
    token.refresh_from_db()
    assert (token.revoked_at is not None, token.revoked_by) == (True, security)
    assert api(secret).get("/api/v1/me/").status_code == 401
    assert AuditEvent.objects.filter(action="api.token_revoke").count() == 1


def test_a_token_name_is_escaped_where_listed(client, security, engineer):
    payload = '<script>alert("t")</script>'
    client.force_login(engineer)
    assert client.post(reverse("tokens:create"), _form(name=payload)).status_code == 200
    force_login_with_mfa(client, security)
    for who in (engineer, security):
        client.force_login(who)
        html = client.get(reverse("tokens:list")).content.decode()
        assert payload not in html
        assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html


def test_invisible_characters_are_refused_in_a_name(client, engineer):
    client.force_login(engineer)
    page = client.post(reverse("tokens:create"), _form(name="CI\u202egnp.exe"))
    assert page.status_code == 400
    assert "invisible" in str(page.context["form"].errors["name"])


def test_signing_in_with_the_second_factor_opens_the_approve_window(client, make_user, password):
    """allauth's own TOTP step (not a test shortcut) records the verification the API reads."""
    import time

    from allauth.mfa.totp.internal.auth import (
        TOTP,
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
    )

    from accessportal.roles import Role

    user = make_user("sam", Role.SECURITY)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    step = client.post(reverse("account_login"), {"login": "sam", "password": password})
    assert step["Location"] == reverse("mfa_authenticate")
    assert not MfaVerification.objects.exists()  # a password alone opens nothing
    if 30 - time.time() % 30 < 2:  # not across a time step's end
        time.sleep(2)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    assert MfaVerification.objects.get().verified_at > timezone.now() - timedelta(minutes=1)


def test_an_auditor_revokes_their_own_token_on_the_page_and_with_itself(client, auditor, api):
    client.force_login(auditor)
    for name in ("laptop", "ci"):
        client.post(reverse("tokens:create"), _form(name=name, scope="read"))
    laptop, ci = ApiToken.objects.get(name="laptop"), ApiToken.objects.get(name="ci")
    client.post(reverse("tokens:revoke", args=[laptop.pk]))
    laptop.refresh_from_db()
    assert laptop.revoked_at is not None
    # A read token revokes itself through the API (one found in a log, say).
    issued = client.post(reverse("tokens:create"), _form(name="leaked", scope="read"))
    leaked = api(issued.context["issued"].plaintext)
    token_id = ApiToken.objects.get(name="leaked").pk
    assert leaked.post(f"/api/v1/tokens/{token_id}/revoke/").status_code == 200
    assert leaked.get("/api/v1/me/").status_code == 401
    ci.refresh_from_db()
    assert ci.revoked_at is None
