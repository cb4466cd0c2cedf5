"""Encrypts the second-factor secrets stored before the portal's MFA adapter encrypted them.

allauth kept each TOTP secret and recovery-code seed in plain text in `mfa_authenticator.data`;
from now on `PortalMFAAdapter` writes them encrypted (PORTAL_KEY_ENCRYPTION_KEYS) and refuses a
plain one. Reversible: going back decrypts them for allauth's default adapter.
"""

from django.db import migrations


def _transform(apps, transform):
    from accessportal.mfa import mfa_data_transform

    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.all().iterator():
        data = mfa_data_transform(authenticator.data or {}, transform)
        if data != authenticator.data:
            authenticator.data = data
            authenticator.save(update_fields=["data"])


def encrypt(apps, schema_editor):
    from accessportal.mfa import mfa_encrypt_if_plain

    _transform(apps, mfa_encrypt_if_plain)


def decrypt(apps, schema_editor):
    from accessportal.mfa import MFA_CIPHERTEXT_PREFIX, mfa_secret_decrypt

    _transform(
        apps,
        lambda text: mfa_secret_decrypt(text) if text.startswith(MFA_CIPHERTEXT_PREFIX) else text,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accessportal", "0002_roles"),
        ("mfa", "0003_authenticator_type_uniq"),
    ]

    operations = [migrations.RunPython(encrypt, decrypt)]
