"""In Chromium: the request page follows fulfilment without a reload by the user."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from approvals.models import AccessRequest
from approvals.workflow import transition
from tests.factories import draft_request, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_request_page_shows_the_pull_request_once_it_opens(
    page: Page, live_server, make_user, password
):
    engineer = make_user("erin")
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    r = draft_request(engineer, vendor)
    # Approved, as the approval service leaves it (its rules are tested elsewhere).
    AccessRequest.objects.filter(pk=r.pk).update(status="approved")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server.url}/requests/{r.pk}/")
    expect(page.get_by_test_id("request-status")).to_have_text("Approved")
    expect(page.locator("[data-live]")).to_have_text("Step: queued…", timeout=10_000)

    # The worker moves the request on; the page notices by itself.
    approved = AccessRequest.objects.get(pk=r.pk)
    transition(approved, to="provisioning", actor=None, action="request.provision")
    expect(page.get_by_test_id("request-status")).to_have_text("Provisioning", timeout=20_000)
    transition(
        AccessRequest.objects.get(pk=r.pk), to="pr_open", actor=None, action="request.pr_open"
    )
    expect(page.get_by_test_id("request-status")).to_have_text("Pull request open", timeout=30_000)
