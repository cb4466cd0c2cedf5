"""The admin's read-only request page shows security and auditors the decisions taken so far,
whatever per-model permissions their accounts lack (access in the admin is by role)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import AccessRequest, Approval
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


def _submitted_by(filer):
    vendor = vendor_services.vendor_create(actor=filer, data=vendor_data(filer))
    staging_account()
    access_request = draft_request(filer, vendor)
    AccessRequest.objects.filter(pk=access_request.pk).update(status=AccessRequest.Status.SUBMITTED)
    return access_request


def test_the_admin_offers_no_decision_on_ones_own_request(client, make_user):
    """A security member who filed a request finds no Approve button on its admin page, as on
    the request page, and a POST to the admin's decide URL changes nothing."""
    filer = make_user("sam", Role.SECURITY, is_staff=True)
    access_request = _submitted_by(filer)
    force_login_with_mfa(client, filer)

    page = client.get(reverse("admin:approvals_accessrequest_change", args=[access_request.pk]))
    assert page.status_code == 200
    assert page.context["can_decide"] is False
    assert 'value="approve"' not in page.content.decode()

    response = client.post(
        reverse("admin:approvals_accessrequest_decide", args=[access_request.pk]),
        {"decision": "approve", "comment": "mine"},
        follow=True,
    )
    assert "You filed this request" in response.content.decode()
    access_request.refresh_from_db()
    assert access_request.status == AccessRequest.Status.SUBMITTED
    assert not Approval.objects.filter(access_request=access_request).exists()


def test_the_admin_offers_no_second_decision_to_one_who_approved(client, make_user):
    engineer = make_user("erin")
    approver = make_user("sasha", Role.SECURITY, is_staff=True)
    access_request = _submitted_by(engineer)
    Approval.objects.create(
        access_request=access_request,
        approver=approver,
        decision=Approval.Decision.APPROVE,
        mfa_verified=True,
    )
    force_login_with_mfa(client, approver)
    page = client.get(reverse("admin:approvals_accessrequest_change", args=[access_request.pk]))
    assert page.context["can_decide"] is False
    assert 'value="approve"' not in page.content.decode()


def test_the_admin_offers_the_decision_to_another_security_member(client, make_user):
    engineer = make_user("erin")
    security = make_user("sasha", Role.SECURITY, is_staff=True)
    access_request = _submitted_by(engineer)
    force_login_with_mfa(client, security)
    page = client.get(reverse("admin:approvals_accessrequest_change", args=[access_request.pk]))
    assert page.context["can_decide"] is True
    assert 'value="approve"' in page.content.decode()
