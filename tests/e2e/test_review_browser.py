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
from tests.e2e.helpers import (
    fill_soc2_review,
    fill_vendor_registration,
    sign_in,
    upload_evidence,
)

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
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    sam_secret = generate_totp_secret()  # deciding a review needs the second factor
    TOTP.activate(make_user("sam", Role.SECURITY, is_staff=True), sam_secret)
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
    assert fill_soc2_review(page, report_ended=today - timedelta(days=60)) == 23
    expect(page.locator("#item-B15").get_by_label("Not applicable", exact=True)).to_be_checked()

    # Submitting without the required evidence is refused, item by item.
    page.get_by_role("button", name="Save and submit for decision").click()
    expect(page.locator("#item-B5 .errorlist")).to_contain_text("needs an evidence file")
    _shot(page, "2-missing-evidence")

    report = tmp_path / "soc2-report.pdf"
    report.write_bytes(b"%PDF-1.4\n% SOC 2 report\n%%EOF\n")
    upload_evidence(page, report)
    page.get_by_role("button", name="Save and submit for decision").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Submitted")
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)
    _shot(page, "3-submitted")
    review_url = page.url

    # Security decides.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, "sam", password, totp_secret=sam_secret)
    page.goto(review_url)
    page.get_by_label("Approve", exact=True).check()
    page.get_by_label("Comment").fill("Type II, unqualified, scope matches.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Approved")
    _shot(page, "4-approved")
    page.get_by_role("link", name="Orbit CI").first.click()
    expect(page.get_by_test_id("review-state")).to_have_text("Current")
