"""A policy the current linter finds in error blocks approval, even when its findings were
stored under older rules (issue 20: a misspelt action was "low")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import requests as services
from approvals.models import AccessRequest
from tests.factories import staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db
MISSPELT = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", '
    '"Resource": "arn:aws:s3:::exports/*"}]}'
)


def _inline_request(engineer, policy: str) -> AccessRequest:
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    return services.request_save(
        actor=engineer,
        data={
            "vendor": vendor,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123456789012:role/V",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "policy_source": "inline",
            "inline_policy": policy,
            "justification": "j",
            "expires_on": timezone.localdate() + timedelta(days=9),
        },
    )


def test_a_misspelt_action_is_stored_as_an_error_and_blocks(engineer):
    r = _inline_request(engineer, MISSPELT)
    assert [(f["severity"], f["code"]) for f in r.lint_findings] == [("error", "UNKNOWN_ACTION")]
    assert "The policy has lint errors." in services.approval_blockers(r)


def test_findings_stored_under_older_rules_do_not_let_it_through(engineer):
    r = _inline_request(engineer, MISSPELT)
    # What a request saved before issue 20 holds: the same finding, rated "low".
    stale = [{**f, "severity": "low"} for f in r.lint_findings]
    AccessRequest.objects.filter(pk=r.pk).update(lint_findings=stale)
    r.refresh_from_db()
    assert not r.has_lint_errors
    assert "The policy has lint errors." in services.approval_blockers(r)


def test_a_clean_policy_is_not_blocked_by_lint(engineer):
    r = _inline_request(engineer, MISSPELT.replace("GetObjekt", "GetObject"))
    assert "The policy has lint errors." not in services.approval_blockers(r)
