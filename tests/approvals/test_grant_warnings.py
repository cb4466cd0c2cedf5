"""A second live grant of the same strategy for the same vendor warns (issue 20): on the
request page, for every strategy, and in the admin; a warning, never a refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals import requests as services
from approvals.models import AccessRequest
from tests.factories import force_login_with_mfa, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db
Status = AccessRequest.Status


def _request(engineer: Any, vendor: Any, strategy: str, **overrides: Any) -> AccessRequest:
    data = {
        "vendor": vendor,
        "strategy": strategy,
        "principals": "arn:aws:iam::123456789012:role/V",
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "j",
        "expires_on": timezone.localdate() + timedelta(days=9),
        **overrides,
    }
    return services.request_save(actor=engineer, data=data)


def _set_status(access_request: AccessRequest, status: str) -> AccessRequest:
    AccessRequest.objects.filter(pk=access_request.pk).update(status=status)
    access_request.refresh_from_db()
    return access_request


@pytest.fixture
def vendor(engineer):
    return vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))


@pytest.mark.parametrize("live", ["approved", "provisioning", "pr_open", "active", "expiring"])
def test_a_live_grant_of_the_same_strategy_warns_naming_it(engineer, vendor, live):
    first = _set_status(_request(engineer, vendor, "auditor"), live)
    second = _request(engineer, vendor, "auditor")
    warnings = services.grant_warnings(second)
    assert [w["code"] for w in warnings] == ["DUPLICATE_LIVE_GRANT"]
    assert warnings[0]["severity"] == "medium"
    assert warnings[0]["message"].startswith(f"Request #{first.pk} (")
    assert vendor.name in warnings[0]["message"]
    # A warning: approval is not blocked by it.
    assert services.approval_blockers(second) == services.approval_blockers(first)


@pytest.mark.parametrize("other", ["draft", "submitted", "failed", "revoked", "rejected", "lapsed"])
def test_a_grant_that_is_not_live_does_not_warn(engineer, vendor, other):
    _set_status(_request(engineer, vendor, "auditor"), other)
    assert services.grant_warnings(_request(engineer, vendor, "auditor")) == []


def test_another_strategy_or_vendor_does_not_warn(engineer, vendor, make_user):
    staging_account()
    _set_status(_request(engineer, vendor, "administrator"), Status.ACTIVE)
    other_vendor = vendor_services.vendor_create(
        actor=engineer, data={**vendor_data(engineer), "name": "Other", "slug": "other"}
    )
    _set_status(_request(engineer, other_vendor, "auditor"), Status.ACTIVE)
    assert services.grant_warnings(_request(engineer, vendor, "auditor")) == []


def test_two_live_role_grants_warn_each_other_and_an_ended_one_does_not(engineer, vendor):
    staging_account()
    first = _set_status(_request(engineer, vendor, "role_per_account"), Status.ACTIVE)
    second = _set_status(
        _request(engineer, vendor, "role_per_account", role_name="OtherRole"), Status.ACTIVE
    )
    assert f"Request #{second.pk} " in services.grant_warnings(first)[0]["message"]
    assert f"Request #{first.pk} " in services.grant_warnings(second)[0]["message"]
    assert services.grant_warnings(_set_status(second, Status.REVOKED)) == []


def test_the_request_page_its_form_and_the_admin_show_the_warning(
    client, engineer, vendor, make_user
):
    first = _set_status(_request(engineer, vendor, "auditor"), Status.ACTIVE)
    second = _request(engineer, vendor, "auditor")
    expected = f"Request #{first.pk} (Active) already grants"
    client.force_login(engineer)
    page = client.get(reverse("approvals:request_detail", args=[second.pk])).content.decode()
    assert 'data-testid="grant-warnings"' in page
    assert expected in page
    form = client.get(reverse("approvals:request_edit", args=[second.pk])).content.decode()
    assert expected in form
    security = make_user("sasha", Role.SECURITY, is_staff=True)
    force_login_with_mfa(client, security)
    admin = client.get(reverse("admin:approvals_accessrequest_change", args=[second.pk]))
    assert expected in admin.content.decode()
