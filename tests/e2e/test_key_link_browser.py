"""In Chromium: the vendor's key contact opens the one-time link, confirms, sees the key once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from keys import services as keys
from keys.models import KeyDelivery
from provisioning.aws import aws_client
from tests.factories import iam_user_grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"


def test_the_key_is_revealed_once_after_a_confirmation(
    page: Page, live_server, settings, aws_endpoint, make_user
):
    settings.PORTAL_BASE_URL = live_server.url
    grant = iam_user_grant(make_user("erin"))
    aws_client("iam").create_user(UserName="orbit-ci")
    key = keys.access_key_issue(request_id=grant.pk)  # on commit: the e-mail with the link
    assert key is not None
    # The link's e-mail, to the key contact; the notices that it went out go to the requester
    # and security besides, and carry no link.
    links = [
        found
        for message in mail.outbox
        if (found := re.search(r"https?://\S+/keys/[A-Za-z0-9_-]{43}/", str(message.body)))
    ]
    assert len(links) == 1
    link = links[0]
    assert link is not None
    url = link.group(0)
    assert url.startswith(live_server.url)

    page.goto(url)
    expect(page.get_by_role("heading", name="Your AWS access key is ready")).to_be_visible()
    assert KeyDelivery.objects.get().ciphertext is not None  # the GET consumed nothing

    page.get_by_role("button", name="Reveal the key now").click()
    expect(page.get_by_test_id("access-key-id")).to_have_text(key.access_key_id)
    secret = page.get_by_test_id("secret-access-key").inner_text()
    assert len(secret) == 40
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "key-link-revealed.png"), full_page=True)
    assert KeyDelivery.objects.get().ciphertext is None

    page.reload()  # the browser re-POSTs: nothing comes back
    expect(page.get_by_role("heading", name="This link is not available")).to_be_visible()
    page.goto(url)
    expect(page.get_by_role("heading", name="This link is not available")).to_be_visible()
    assert secret not in page.content()
    page.screenshot(path=str(SCREENS / "key-link-used.png"), full_page=True)


def test_the_request_page_waits_for_the_iam_user_then_shows_the_key(
    page: Page, live_server, settings, aws_endpoint, make_user, password
):
    settings.PORTAL_BASE_URL = live_server.url
    grant = iam_user_grant(make_user("erin"))
    keys.access_keys_issue_due()  # the worker's poll: no IAM user yet
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Login").fill("erin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.goto(f"{live_server.url}/requests/{grant.pk}/")
    expect(page.get_by_test_id("key-error")).to_contain_text("Waiting for the IAM user orbit-ci")

    aws_client("iam").create_user(UserName="orbit-ci")  # someone ran the commands
    assert keys.access_keys_issue_due() == 1  # the next poll
    # The page notices by itself: the key row, with its link sent to the contact.
    expect(page.get_by_test_id("access-key")).to_contain_text("sent to keys@orbit.example")
    expect(page.get_by_test_id("key-error")).to_have_count(0)
    page.screenshot(path=str(SCREENS / "request-key-issued.png"), full_page=True)
