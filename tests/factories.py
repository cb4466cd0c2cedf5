"""Small builders shared by tests that need an account and a request without caring how."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals import requests as request_services
from approvals.models import AccessRequest
from inventory.models import AwsAccount


def staging_account(account_id: str = "111122223333") -> AwsAccount:
    """An active payments/staging/alpha service account."""
    return AwsAccount.objects.create(
        account_id=account_id,
        name="a",
        account_type="service",
        domain="payments",
        environment="staging",
        quality="alpha",
    )


def draft_request(owner: Any, vendor: Any) -> AccessRequest:
    """A complete role-per-account draft for the payments accounts, read-only, ending in 9 days."""
    return request_services.request_save(
        actor=owner,
        data={
            "vendor": vendor,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123456789012:role/V",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "j",
            "expires_on": timezone.localdate() + timedelta(days=9),
        },
    )


def iam_user_grant(owner: Any, *, key_contact: str = "keys@orbit.example") -> AccessRequest:
    """An active IAM-user grant of a new Orbit CI vendor (IAM user `orbit-ci`), whose key
    contact is `key_contact`: merged and applied, as fulfilment leaves it (tested there)."""
    from vendors import services as vendor_services

    vendor = vendor_services.vendor_create(
        actor=owner,
        data={
            "name": "Orbit CI",
            "slug": "orbit-ci",
            "service": "Hosted CI/CD",
            "purpose": "Builds our code.",
            "internal_owner": owner,
            "data_sensitivity": "confidential",
            "access_level": "write",
            "criticality": "high",
            "data_categories": ["source_code"],
        },
    )
    vendor_services.contact_save(
        vendor_id=vendor.pk,
        actor=owner,
        data={"name": "Kim", "email": key_contact, "receives_access_keys": True},
    )
    if not AwsAccount.objects.filter(domain="payments").exists():
        staging_account()
    r = request_services.request_save(
        actor=owner,
        data={
            "vendor": vendor,
            "strategy": "iam_user",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "j",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    AccessRequest.objects.filter(pk=r.pk).update(status="active")
    return AccessRequest.objects.get(pk=r.pk)


def force_login_with_mfa(client: Any, user: Any) -> None:
    """Signs `user` in on the test client as if they had passed allauth's TOTP step.

    The portal reads the second factor from allauth's authentication records in the session
    (accessportal/mfa.py); this writes the record that allauth's MFA step writes, for tests
    that need a verified session without enrolling an authenticator each time.
    """
    import time

    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )

    client.force_login(user)
    session = client.session
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": time.time(), "username": user.username},
        {"method": "mfa", "at": time.time(), "type": "totp"},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
    session.save()
