"""In Chromium: an engineer signs in through the real login page and sees the dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accessportal.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"


def test_engineer_signs_in_and_sees_the_dashboard(page: Page, live_server, make_user, password):
    make_user("erin", first_name="Erin")
    page.goto(live_server.url + "/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/")
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign In").click()
    expect(
        page.get_by_text("The username and/or password you specified are not correct.")
    ).to_be_visible()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_text("Welcome, Erin.")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin")
    ).to_have_count(0)
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "dashboard-engineer.png"), full_page=True)


def test_security_member_sees_admin_in_navigation(page: Page, live_server, make_user, password):
    make_user("sam", Role.SECURITY, is_staff=True)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Login").fill("sam")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Admin")).to_be_visible()
    expect(page.get_by_test_id("worker-status")).to_contain_text("No background worker")
    page.screenshot(path=str(SCREENS / "dashboard-security.png"), full_page=True)
    # The stylesheet loaded from this origin (a CSP violation would leave the page unstyled).
    color = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(11, 79, 138)"
