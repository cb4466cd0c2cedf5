"""Shared by the approvals tests: a submitted request of a vendor with an approved review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals import requests as services
from approvals.models import AccessRequest

ROLE = "arn:aws:iam::123456789012:role/VendorScanner"


def submitted(vendor: Any, engineer: Any, **overrides: Any) -> AccessRequest:
    """A role-per-account request for the payments accounts, submitted by `engineer`."""
    data = {
        "vendor": vendor,
        "strategy": "role_per_account",
        "principals": ROLE,
        "external_id": "",
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Nightly scan.",
        "expires_on": timezone.localdate() + timedelta(days=30),
        **overrides,
    }
    r = services.request_save(actor=engineer, data=data)
    return services.request_submit(request_id=r.pk, actor=engineer)
