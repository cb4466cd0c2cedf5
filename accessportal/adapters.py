"""django-allauth adapters: who may sign up, and how."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accessportal.client_ip import client_ip
from accessportal.mfa import mfa_secret_decrypt, mfa_secret_encrypt


class PortalAccountAdapter(DefaultAccountAdapter):
    """Local sign-up only when PORTAL_ALLOW_SIGNUP is set; accounts are otherwise made by admins."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.PORTAL_ALLOW_SIGNUP)

    def get_client_ip(self, request: HttpRequest) -> str:
        """The lockout and rate limits count per client by the portal's one rule, so that they
        and the audit rows agree on who the client is."""
        address = client_ip(request)
        if address is None:
            raise PermissionDenied("Unable to determine the client's address.")
        return address


class PortalSocialAccountAdapter(DefaultSocialAccountAdapter):
    """The configured SSO provider is the organization's identity source: it may create users."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return True


class PortalMFAAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds stored encrypted, with the access keys' key ring
    (accessportal/mfa.py): a copy of the database alone cannot mint second-factor codes."""

    def encrypt(self, text: str) -> str:

        return mfa_secret_encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:

        return mfa_secret_decrypt(encrypted_text)
