"""In Chromium: an engineer registers a vendor, fills and submits its SOC 2 review with
evidence; a security member approves it; the vendor's review state becomes current."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accessportal.roles import Role
from tests.e2e.helpers import fill_vendor_registration

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"


def _sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"review-{name}.png"), full_page=True)


def test_engineer_fills_and_submits_a_review_that_security_approves(
    page: Page, live_server, make_user, password, tmp_path
):
    make_user("erin", first_name="Erin")
    make_user("sam", Role.SECURITY, is_staff=True)
    base = live_server.url
    today = timezone.localdate()

    # The engineer registers the vendor; a bad slug is refused beside the field, input kept.
    _sign_in(page, base, "erin", password)
    fill_vendor_registration(page, slug="Orbit CI")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#field-slug .errorlist")).to_contain_text("lower-case letters")
    expect(page.get_by_label(re.compile(r"^Service bought\b"))).to_have_value("Hosted CI/CD")
    page.get_by_label(re.compile(r"^Slug\b")).fill("orbit-ci")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Orbit CI", level=1)).to_be_visible()
    expect(page.get_by_test_id("review-state")).to_have_text("No approved review")
    _shot(page, "1-vendor")

    # The review: the report's facts and every checklist answer.
    page.get_by_role("button", name="Start a review").click()
    page.get_by_label("Report type").select_option("soc2_type2")
    page.get_by_label("The report's scope covers the service we buy").select_option("true")
    page.get_by_label("Security", exact=True).check()
    end = today - timedelta(days=60)
    page.get_by_label("Period start").fill((end - timedelta(days=365)).isoformat())
    page.get_by_label("Period end").fill(end.isoformat())
    page.get_by_label("Report issued on").fill((end + timedelta(days=30)).isoformat())
    page.get_by_label("Service auditor (CPA firm)").fill("Example & Partners LLP")
    page.get_by_label("Opinion").select_option("unqualified")
    page.get_by_label("Residual risk").select_option("low")
    items = page.locator("fieldset.item")
    assert items.count() == 23
    for index in range(items.count()):
        item = items.nth(index)
        choice = "Not applicable" if item.get_attribute("id") == "item-B15" else "Yes"
        item.get_by_label(choice, exact=True).check()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Review saved.")).to_be_visible()
    expect(page.locator("#item-B15").get_by_label("Not applicable", exact=True)).to_be_checked()

    # Submitting without the required evidence is refused, item by item.
    page.get_by_role("button", name="Save and submit for decision").click()
    expect(page.locator("#item-B5 .errorlist")).to_contain_text("needs an evidence file")
    _shot(page, "2-missing-evidence")

    report = tmp_path / "soc2-report.pdf"
    report.write_bytes(b"%PDF-1.4\n% SOC 2 report\n%%EOF\n")
    for code in ("B5", "B12", "C16"):
        option = page.locator("#id_answer option", has_text=f"{code}. ").get_attribute("value")
        page.locator("#id_answer").select_option(option)
        page.locator("#id_file").set_input_files(str(report))
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_text("Uploaded soc2-report.pdf")).to_be_visible()
    page.get_by_role("button", name="Save and submit for decision").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Submitted")
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)
    _shot(page, "3-submitted")
    review_url = page.url

    # Security decides.
    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, base, "sam", password)
    page.goto(review_url)
    page.get_by_label("Approve", exact=True).check()
    page.get_by_label("Comment").fill("Type II, unqualified, scope matches.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Approved")
    _shot(page, "4-approved")
    page.get_by_role("link", name="Orbit CI").first.click()
    expect(page.get_by_test_id("review-state")).to_have_text("Current")
