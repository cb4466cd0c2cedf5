"""In Chromium: pages holding stored XSS payloads run none of them.

test_xss.py proves the payloads are escaped in the HTML; this proves it where it matters, in a
browser: no dialog opens, and the Content-Security-Policy has nothing to block (a violation
report would mean markup got through and only the CSP stopped it). The payloads show as text.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from approvals import requests as request_services
from tests.factories import staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_stored_payloads_stay_text_in_the_browser(page: Page, live_server, make_user, password):
    owner = make_user("erin")
    vendor = vendor_services.vendor_create(
        actor=owner,
        data=vendor_data(owner, name=f"Orbit {PAYLOAD}", purpose=PAYLOAD, service=PAYLOAD),
    )
    vendor_services.contact_save(
        vendor_id=vendor.pk, actor=owner, data={"name": PAYLOAD, "email": "c@vendor.example"}
    )
    staging_account()
    access_request = request_services.request_save(
        actor=owner,
        data={
            "vendor": vendor,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123456789012:role/V",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": PAYLOAD,
            "expires_on": timezone.localdate() + timedelta(days=9),
        },
    )
    dialogs: list[str] = []
    violations: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    for path in (
        "/",
        "/vendors/",
        f"/vendors/{vendor.pk}/",
        f"/requests/{access_request.pk}/",
        f"/requests/{access_request.pk}/edit/",
        "/requests/",
    ):
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
    assert dialogs == []
    assert violations == []
    # The request page shows the justification as text, exactly as typed.
    page.goto(f"{live_server.url}/requests/{access_request.pk}/")
    expect(page.get_by_text(PAYLOAD, exact=True)).to_be_visible()
    assert page.locator("img[src='x']").count() == 0
