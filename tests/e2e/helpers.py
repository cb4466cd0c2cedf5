"""What the browser tests do as a person would, through the portal's real pages: sign in (with
an authenticator app's code when the account has one), enrol an authenticator app, register a
vendor, fill a SOC 2 review and upload its evidence."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.utils import timezone
from playwright.sync_api import Page, expect

TOTP_PERIOD_SECONDS = 30  # allauth's default, and every authenticator app's


def totp_code(secret: str) -> str:
    """The code an authenticator app holding `secret` shows now (RFC 6238).

    Like a person who sees the code about to change, it waits for the next one when the
    current one has under 3 seconds left: the portal accepts only the current time step.
    """
    now = timezone.now().timestamp()
    left = TOTP_PERIOD_SECONDS - now % TOTP_PERIOD_SECONDS
    if left < 3:
        time.sleep(left + 0.1)
        now = timezone.now().timestamp()
    counter = int(now) // TOTP_PERIOD_SECONDS
    return format_hotp_value(hotp_value(secret, counter))


def sign_in(
    page: Page, base_url: str, username: str, password: str, totp_secret: str | None = None
) -> None:
    """Signs in on the login page; with `totp_secret`, answers the second-factor step too."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    if totp_secret is not None:
        expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
        page.locator("input[name=code]").fill(totp_code(totp_secret))
        page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign In")).to_be_visible()


def enrol_totp(page: Page, password: str) -> str:
    """From the dashboard's warning to an active authenticator app; returns its secret (what
    the person's app stores from the QR code), after confirming it with a code from it."""
    page.get_by_role("link", name="set up an authenticator app").click()
    # Adding a factor asks for the password again first.
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("Confirm|Reauthenticate", re.IGNORECASE)).click()
    expect(page.get_by_role("heading", name="Activate Authenticator App")).to_be_visible()
    secret = page.get_by_label("Authenticator secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    page.locator("input[name=code]").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    return secret


def fill_vendor_registration(page: Page, *, slug: str) -> None:
    """Opens "Register a vendor" from the main navigation and fills it for Orbit CI, a hosted
    CI/CD service with write access to source code; the caller submits it."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Vendors").click()
    page.get_by_role("link", name="Register a vendor").click()
    page.get_by_label(re.compile(r"^Name\b")).fill("Orbit CI")
    page.get_by_label(re.compile(r"^Slug\b")).fill(slug)
    page.get_by_label(re.compile(r"^Service bought\b")).fill("Hosted CI/CD")
    page.get_by_label(re.compile(r"^Purpose of processing\b")).fill(
        "Builds and deploys our services."
    )
    page.get_by_label(re.compile(r"^Data sensitivity\b")).select_option("confidential")
    page.get_by_label(re.compile(r"^Access level\b")).select_option("write")
    page.get_by_label(re.compile(r"^Criticality\b")).select_option("high")
    page.get_by_label("Source code").check()


def fill_soc2_review(page: Page, *, report_ended: date) -> int:
    """Starts a review from the vendor's page and fills it: a SOC 2 Type II report ending on
    `report_ended` (issued 30 days later, unqualified, by "Example & Partners LLP"), residual
    risk low, every checklist item "Yes" but B15 "Not applicable"; then saves the draft.
    Returns how many checklist items the form asked about."""
    page.get_by_role("button", name="Start a review").click()
    page.get_by_label("Report type").select_option("soc2_type2")
    page.get_by_label("The report's scope covers the service we buy").select_option("true")
    page.get_by_label("Security", exact=True).check()
    page.get_by_label("Period start").fill((report_ended - timedelta(days=365)).isoformat())
    page.get_by_label("Period end").fill(report_ended.isoformat())
    page.get_by_label("Report issued on").fill((report_ended + timedelta(days=30)).isoformat())
    page.get_by_label("Service auditor (CPA firm)").fill("Example & Partners LLP")
    page.get_by_label("Opinion").select_option("unqualified")
    page.get_by_label("Residual risk").select_option("low")
    items = page.locator("fieldset.item")
    count = items.count()
    for index in range(count):
        item = items.nth(index)
        choice = "Not applicable" if item.get_attribute("id") == "item-B15" else "Yes"
        item.get_by_label(choice, exact=True).check()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Review saved.")).to_be_visible()
    return count


def upload_evidence(
    page: Page, evidence: Path, codes: tuple[str, ...] = ("B5", "B12", "C16")
) -> None:
    """Uploads `evidence` against each of the checklist items `codes` on the review page."""
    for code in codes:
        option = page.locator("#id_answer option", has_text=f"{code}. ").get_attribute("value")
        page.locator("#id_answer").select_option(option)
        page.locator("#id_file").set_input_files(str(evidence))
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_text(f"Uploaded {evidence.name}")).to_be_visible()


SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
# Issue 20 keeps every page's look at a desktop's width and a phone's.
WIDTHS = ((1280, 900), (390, 844))


def screens(page: Page, name: str, *, fits: bool = False) -> None:
    """Full-page screenshots of the page at 1280 and 390 px, `test-results/screens/<name>-<width>
    .png`; the viewport is left at 1280. With `fits`, the page must not be wider than the screen
    at either width (a wide table scrolls inside its card instead)."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        if fits:
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name} is {scroll_width} px wide at {width}"
        page.screenshot(path=str(SCREENS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})


def service_accounts(first_id: int) -> None:
    """Four active service accounts from `first_id` on: payments and data, each in staging and
    production, quality alpha."""
    from inventory.models import AwsAccount

    n = first_id
    for domain in ("payments", "data"):
        for environment in ("staging", "production"):
            AwsAccount.objects.create(
                account_id=str(n),
                name=f"{domain}-{environment}",
                account_type="service",
                domain=domain,
                environment=environment,
                quality="alpha",
                status="active",
            )
            n += 1
