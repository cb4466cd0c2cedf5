"""The admin's read-only request page shows security and auditors the decisions taken so far,
whatever per-model permissions their accounts lack (access in the admin is by role)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import Approval
from tests.factories import draft_request, staging_account
from tests.vendors.conftest import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.SECURITY, Role.AUDITORS])
def test_the_request_page_lists_its_approvals_for_security_and_auditors(client, make_user, role):
    engineer = make_user("erin")
    approver = make_user("sasha", Role.SECURITY, is_staff=True)
    reader = make_user("reader", role, is_staff=True)
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    access_request = draft_request(engineer, vendor)
    Approval.objects.create(
        access_request=access_request,
        approver=approver,
        decision=Approval.Decision.APPROVE,
        comment="Scoped to staging, fine by me.",
        mfa_verified=True,
    )
    client.force_login(reader)
    response = client.get(reverse("admin:approvals_accessrequest_change", args=[access_request.pk]))
    assert response.status_code == 200
    assert "Scoped to staging, fine by me." in response.content.decode()
