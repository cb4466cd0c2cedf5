"""In Chromium: an auditor opens the access map, filters it to production, follows a grant to
its request, and finds the exports on the Reports page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from inventory.models import AwsAccount
from tests.reports.conftest import Org, make_live, submitted_request
from tests.reports.conftest import org as org  # the fixture, shared
from tests.reports.test_access_map import reviewed_vendor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"


def _more_accounts() -> None:
    for number, (domain, environment, quality) in enumerate(
        [
            ("billing", "development", "alpha"),
            ("billing", "production", "beta"),
            ("billing", "production", "default"),
            ("payments", "development", "alpha"),
            ("platform", "production", "default"),
        ]
    ):
        AwsAccount.objects.create(
            account_id=f"2000000000{number:02d}",
            name=f"{domain}-{environment}-{quality}",
            account_type="service",
            domain=domain,
            environment=environment,
            quality=quality,
            status="active",
        )


def test_auditor_reads_the_access_map_and_follows_a_grant(
    page: Page, live_server, org: Org, password
):
    _more_accounts()
    beacon = reviewed_vendor(org, "Beacon Monitoring", "beacon-monitoring")
    make_live(
        submitted_request(beacon, org.engineer, domains=["billing", "platform"]),
        [org.security],
        number=20,
        enqueue=False,
    )
    ledger = reviewed_vendor(org, "Ledger Cost Tools", "ledger-cost")
    admin_grant = make_live(
        submitted_request(
            ledger, org.engineer, strategy="administrator", principals="210987654321"
        ),
        [org.security, org.security2],
        number=21,
        enqueue=False,
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Login").fill("ari")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access map").click()
    expect(page.get_by_role("heading", name="Access map", level=1)).to_be_visible()
    expect(page.get_by_role("row", name="Beacon Monitoring")).to_be_visible()
    expect(page.locator("table.access-map tbody tr")).to_have_count(3)
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "access-map.png"), full_page=True)

    page.get_by_label("Production only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr.accounts th")).to_have_count(4)  # the production accounts only
    page.get_by_label("Admin-equivalent only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.access-map tbody tr")).to_have_count(1)
    page.locator(f'a[href="/requests/{admin_grant.pk}/"]').first.click()
    expect(page).to_have_url(f"{live_server.url}/requests/{admin_grant.pk}/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Subprocessor report")).to_be_visible()
    expect(page.get_by_test_id("chain-hash")).not_to_be_empty()
    page.screenshot(path=str(SCREENS / "reports.png"), full_page=True)
