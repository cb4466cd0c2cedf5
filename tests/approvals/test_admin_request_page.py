"""The admin's read-only request page shows security and auditors the decisions taken so far,
whatever per-model permissions their accounts lack (access in the admin is by role)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import Approval
from tests.factories import draft_request, force_login_with_mfa, staging_account
from tests.vendors.helpers import vendor_data
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
    force_login_with_mfa(client, reader)
    response = client.get(reverse("admin:approvals_accessrequest_change", args=[access_request.pk]))
    assert response.status_code == 200
    assert "Scoped to staging, fine by me." in response.content.decode()


def test_the_request_list_writes_the_rows_as_the_admin_would(client, make_user):
    """The request list writes its rows itself (web.admin.workflow._RequestChangeList, for speed):
    the same cells as the admin's own rendering of the same columns, escaped, with the links
    keeping the list's filters; a popup falls back to the admin's rendering."""
    from django.contrib.admin.templatetags.admin_list import items_for_result

    engineer = make_user("erin")
    reader = make_user("reader", Role.SECURITY, is_staff=True)
    vendor = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, name='<b>Tom & "Jerry"</b>', slug="tom")
    )
    staging_account()
    access_request = draft_request(engineer, vendor)
    force_login_with_mfa(client, reader)
    changelist = reverse("admin:approvals_accessrequest_changelist")

    response = client.get(changelist, {"status": "draft"})
    assert response.status_code == 200
    cl = response.context["cl"]
    ours = [row[0] for row in cl.result_table()["results"]]
    admins = ["".join(items_for_result(cl, result, None)) for result in cl.result_list]
    # The admin marks date and related-object cells nowrap when it formats them itself.
    assert [row.replace(" nowrap", "") for row in ours] == admins
    body = response.content.decode()
    assert ours[0] in body
    assert "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in ours[0]
    assert f"/{access_request.pk}/change/?_changelist_filters=status%3Ddraft" in ours[0]
    assert "Draft" in ours[0]

    popup = client.get(changelist, {"_popup": "1"})
    assert popup.status_code == 200
    assert popup.context["cl"].result_table() is None
    assert f">{access_request.pk}<" in popup.content.decode()
