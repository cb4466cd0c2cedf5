"""`manage.py reencrypt_key_secrets`: the middle step of rotating PORTAL_KEY_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accessportal.mfa import mfa_secrets_reencrypt
from eventstream.services import endpoint_secrets_reencrypt
from keys.services import key_secrets_reencrypt
from provisioning.keys import SecretDecryptionError


class Command(BaseCommand):
    help = (
        "Re-encrypts the stored access key secrets, second-factor secrets and event stream "
        "endpoints' URLs and secrets under the first "
        "key of PORTAL_KEY_ENCRYPTION_KEYS (put the new key first, run this, then drop the "
        "old key)."
    )

    def handle(self, *args: Any, **options: Any) -> None:

        try:
            count = key_secrets_reencrypt()
            # The second factors' secrets share the key ring (accessportal/mfa.py).
            factors = mfa_secrets_reencrypt()
            # So do the audit event stream's endpoints (eventstream/services.py).
            endpoints = endpoint_secrets_reencrypt()
        except SecretDecryptionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Re-encrypted {count} stored secret(s) under the current key.")
        self.stdout.write(f"Re-encrypted {factors} second-factor authenticator(s).")
        self.stdout.write(f"Re-encrypted {endpoints} event stream endpoint(s).")
