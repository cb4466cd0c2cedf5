"""In Chromium: an engineer files a request for each of the five strategies through the form,
which shows only the fields each strategy uses and counts the matching accounts live."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.models import AccessRequest
from tests.e2e.helpers import service_accounts
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
ROLE = "arn:aws:iam::123456789012:role/VendorScanner"


@pytest.mark.parametrize(
    "strategy", ["role_per_account", "hub_role", "auditor", "administrator", "iam_user"]
)
def test_engineer_files_a_request_for_each_strategy(
    page: Page, live_server, make_user, password, strategy
):
    engineer = make_user("erin")
    vendor_services.vendor_create(
        actor=engineer,
        data={
            "name": "Orbit CI",
            "slug": "orbit-ci",
            "service": "CI",
            "purpose": "Builds.",
            "internal_owner": engineer,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
        },
    )
    service_accounts(200000000001)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My requests").click()
    page.get_by_role("link", name="Request access for a vendor").click()

    page.get_by_label("Vendor", exact=True).select_option(
        label="Orbit CI (review: No approved review)"
    )
    page.locator(f"input[name=strategy][value={strategy}]").check()
    principals = page.get_by_label("Vendor's AWS principals")
    accounts = page.locator("[data-group=accounts]")
    if strategy == "iam_user":
        expect(principals).to_be_hidden()
    else:
        principals.fill(ROLE)
    if strategy in ("auditor", "administrator"):
        expect(accounts).to_be_hidden()
        expect(page.locator("[data-group=permissions]")).to_be_hidden()
    else:
        accounts.get_by_label("payments").check()
        # Nothing ticked is no account: the environments and qualities are chosen too.
        accounts.locator("input[name=environments][value='*']").check()
        accounts.locator("input[name=qualities][value='*']").check()
        expect(page.locator("#account-count")).to_have_text(
            re.compile(r"^2 accounts match this selection\.$")
        )
        page.get_by_label("ReadOnlyAccess: read everything").check()
    page.get_by_label("Why the vendor needs this").fill("Nightly configuration scan.")
    page.get_by_label("Access ends on").fill(
        (timezone.localdate() + timedelta(days=60)).isoformat()
    )
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"request-form-{strategy}.png"), full_page=True)
    page.get_by_role("button", name="Save and submit").click()

    expect(page.get_by_test_id("request-status")).to_have_text("Submitted, awaiting approval")
    expect(page.get_by_test_id("blockers")).to_contain_text("no current approved SOC 2 review")
    request = AccessRequest.objects.get()
    assert request.strategy == strategy
    assert request.status == "submitted"
    expected_accounts = 0 if strategy in ("auditor", "administrator") else 2
    assert request.target_accounts.count() == expected_accounts
    if strategy in ("administrator", "iam_user"):
        assert request.required_approvals == 2
    page.screenshot(path=str(SCREENS / f"request-{strategy}.png"), full_page=True)
