"""Whether the current session was verified with a second factor (allauth's MFA)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from provisioning.keys import (
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    rotate_ciphertext,
)


def session_mfa_verified(request: HttpRequest) -> bool:
    """True when this session's sign-in included an MFA step (TOTP or a recovery code).

    allauth records each authentication step of the session; its "mfa" record is written only
    after a second factor was checked. The reader lives in allauth's internal flows module, so
    it is wrapped here, in one place, with a test pinning its behaviour.
    """
    from allauth.account.internal.flows.login import get_authentication_records

    records = get_authentication_records(request, request.user)  # type: ignore[arg-type]
    return any(record.get("method") == "mfa" for record in records)


# --- Second-factor secrets at rest ----------------------------------------------------------------
# allauth stores each TOTP secret and recovery-code seed in `mfa_authenticator.data`, through its
# adapter's encrypt()/decrypt(). They are encrypted with the key ring of the access-key secrets
# (PORTAL_KEY_ENCRYPTION_KEYS, provisioning/keys.py): one set of keys to guard and rotate. The
# prefix tells a ciphertext from a value written before encryption (migration 0003 encrypts
# those); a value without it is refused rather than trusted.
MFA_CIPHERTEXT_PREFIX = "fernet:"
# The fields of an authenticator's data that hold secrets: the TOTP secret, the recovery
# codes' seed, and the recovery codes themselves when they were imported ("migrated_codes").
MFA_SECRET_FIELDS = ("secret", "seed")
MFA_SECRET_LIST_FIELDS = ("migrated_codes",)


def mfa_secret_encrypt(text: str) -> str:

    return MFA_CIPHERTEXT_PREFIX + encrypt_secret(text).decode("ascii")


def mfa_secret_decrypt(stored: str) -> str:

    if not stored.startswith(MFA_CIPHERTEXT_PREFIX):
        raise SecretDecryptionError(
            "a second-factor secret is stored unencrypted: run `manage.py migrate` "
            "(accessportal 0003 encrypts them)"
        )
    return decrypt_secret(stored[len(MFA_CIPHERTEXT_PREFIX) :].encode("ascii"))


def mfa_data_transform(data: dict[str, Any], transform: Callable[[str], str]) -> dict[str, Any]:
    """A copy of an authenticator's `data` with `transform` applied to each secret in it."""
    changed = dict(data)
    for field in MFA_SECRET_FIELDS:
        if isinstance(changed.get(field), str):
            changed[field] = transform(changed[field])
    for field in MFA_SECRET_LIST_FIELDS:
        if isinstance(changed.get(field), list):
            changed[field] = [transform(value) for value in changed[field]]
    return changed


def mfa_encrypt_if_plain(text: str) -> str:
    """`text` encrypted, unless it already is (the migration and a rerun of it)."""
    return text if text.startswith(MFA_CIPHERTEXT_PREFIX) else mfa_secret_encrypt(text)


def mfa_rotate(stored: str) -> str:
    """A stored secret re-encrypted under the first key of the ring (key rotation)."""

    if not stored.startswith(MFA_CIPHERTEXT_PREFIX):
        return mfa_secret_encrypt(stored)
    token = stored[len(MFA_CIPHERTEXT_PREFIX) :].encode("ascii")
    return MFA_CIPHERTEXT_PREFIX + rotate_ciphertext(token).decode("ascii")


def mfa_secrets_reencrypt() -> int:
    """Re-encrypts every stored second-factor secret under the current first key (the same
    rotation step as the access keys': `manage.py reencrypt_key_secrets`); returns how many
    authenticators were rewritten."""
    from allauth.mfa.models import Authenticator
    from django.db import transaction

    done = 0
    for authenticator_id in list(Authenticator.objects.values_list("pk", flat=True)):
        with transaction.atomic():
            row = Authenticator.objects.select_for_update().filter(pk=authenticator_id).first()
            if row is None:
                continue
            row.data = mfa_data_transform(row.data or {}, mfa_rotate)
            row.save(update_fields=["data"])
            done += 1
    return done
