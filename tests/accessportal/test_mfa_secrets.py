"""Second-factor secrets are stored encrypted with the access keys' key ring (issue 15)."""

from __future__ import annotations

import importlib
import io

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accessportal.roles import Role
from provisioning.keys import SecretDecryptionError

pytestmark = pytest.mark.django_db

PLAIN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _stored_data() -> str:
    """What the database holds in mfa_authenticator.data, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator ORDER BY id")
        return " ".join(str(row[0]) for row in cursor.fetchall())


def _code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    counters = list(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))


def _migration() -> object:
    return importlib.import_module("accessportal.migrations.0003_encrypt_mfa_secrets")


def test_an_enrolled_totp_secret_is_stored_encrypted_and_still_signs_in(
    client, make_user, password
):
    from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY

    make_user("sam", Role.SECURITY)
    client.post(reverse("account_login"), {"login": "sam", "password": password})
    page = client.get(reverse("mfa_activate_totp"))
    client.post(page["Location"], {"password": password})  # re-authentication first
    client.get(reverse("mfa_activate_totp"))
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post(reverse("mfa_activate_totp"), {"code": _code(secret)})
    assert response.status_code == 302

    stored = _stored_data()
    assert stored, "the authenticator was saved"
    assert secret not in stored
    assert "fernet:" in stored
    # Signing in again asks for and accepts a code from the same secret.
    client.post(reverse("account_logout"))
    response = client.post(reverse("account_login"), {"login": "sam", "password": password})
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": _code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_recovery_codes_seed_is_stored_encrypted_and_the_codes_still_work(make_user):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    user = make_user("sam", Role.SECURITY)
    codes = RecoveryCodes.activate(user)
    plain = codes.generate_codes()
    data = codes.instance.data
    assert data["seed"].startswith("fernet:")
    assert all(code not in _stored_data() for code in plain)
    assert RecoveryCodes(type(codes.instance).objects.get(pk=codes.instance.pk)).validate_code(
        plain[0]
    )


def test_the_migration_encrypts_a_secret_stored_in_plain_text(make_user):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    user = make_user("sam", Role.SECURITY)
    # As allauth's default adapter stored it before this change.
    row = Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": PLAIN_SECRET}
    )
    with pytest.raises(SecretDecryptionError, match="migrate"):
        TOTP(row).validate_code(_code(PLAIN_SECRET))  # a plain secret is not trusted

    migration = _migration()
    migration.encrypt(apps, None)  # type: ignore[attr-defined]
    assert PLAIN_SECRET not in _stored_data()
    row.refresh_from_db()
    assert row.data["secret"].startswith("fernet:")
    assert TOTP(row).validate_code(_code(PLAIN_SECRET))

    encrypted = row.data["secret"]
    migration.encrypt(apps, None)  # type: ignore[attr-defined]  # a rerun changes nothing
    row.refresh_from_db()
    assert row.data["secret"] == encrypted

    migration.decrypt(apps, None)  # type: ignore[attr-defined]  # and it can be rolled back
    row.refresh_from_db()
    assert row.data == {"secret": PLAIN_SECRET}


def test_rotating_the_key_ring_reencrypts_the_second_factors(make_user, settings):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old]
    user = make_user("sam", Role.SECURITY)
    row = TOTP.activate(user, PLAIN_SECRET).instance
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new, old]
    call_command("reencrypt_key_secrets", stdout=io.StringIO())
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new]  # the old key dropped
    assert TOTP(Authenticator.objects.get(pk=row.pk)).validate_code(_code(PLAIN_SECRET))
