"""In Chromium: the request page leads with where it stands and who acts, its timeline lists
the steps in order, and security finds any request on "All requests" (issue 20, "the state is
obvious"). Screenshots at 1280 and 390 px wide are kept in test-results/screens/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from unittest import mock

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from accessportal.roles import Role
from approvals import requests as request_services
from approvals.models import AccessRequest
from approvals.workflow import transition
from fulfilment.models import PullRequest
from tests.e2e.helpers import screens, sign_in, sign_out
from tests.factories import draft_request, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS: dict[str, ViewportSize] = {
    "1280": {"width": 1280, "height": 900},
    "390": {"width": 390, "height": 844},
}


@pytest.fixture
def no_workers() -> Iterator[None]:
    # The request moves as the portal's workers would move it (their work is tested in
    # tests/fulfilment): nothing is queued, so no worker races the page being read.
    with (
        mock.patch("accessportal.lifecycle.enqueue_on_commit"),
        mock.patch("accessportal.lifecycle.notify_on_commit"),
    ):
        yield


def _move(r: AccessRequest, to: str, action: str, actor=None) -> AccessRequest:  # type: ignore[no-untyped-def]
    transition(AccessRequest.objects.get(pk=r.pk), to=to, actor=actor, action=action)
    return AccessRequest.objects.get(pk=r.pk)


def _pull(r: AccessRequest, purpose: str, number: int, state: str, **fields: object) -> PullRequest:
    return PullRequest.objects.create(
        access_request=r,
        forge="local",
        purpose=purpose,
        number=number,
        branch=f"vendor-access/req-{r.pk}-{purpose}",
        base="main",
        state=state,
        **fields,
    )


def _lead(page: Page) -> tuple[str, str, str]:
    return (
        page.get_by_test_id("standing-where").inner_text(),
        page.get_by_test_id("next-step").inner_text(),
        page.get_by_test_id("who-acts").inner_text(),
    )


def test_the_request_page_says_where_it_stands_at_each_step(
    page: Page, live_server, make_user, password, no_workers
):
    engineer = make_user("erin")
    security = make_user("sam", Role.SECURITY, is_staff=True)
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    r = draft_request(engineer, vendor)
    AccessRequest.objects.filter(pk=r.pk).update(
        preview={"commit": "0123456789abcdef", "files": [], "commands": ["substrate setup"]}
    )
    url = f"{live_server.url}/requests/{r.pk}/"

    page.set_viewport_size(WIDTHS["1280"])
    sign_in(page, live_server.url, "erin", password)
    page.goto(url)
    where, next_, who = _lead(page)
    assert where.startswith("A draft")
    assert "submit" in next_
    assert who == "The requester (erin)"
    expect(page.get_by_role("heading", name="The change it will make")).to_be_visible()
    screens(page, "request-state-draft", fits=True)

    # Submitted, approved, the pull request opened: the next step is security's merge.
    request_services.request_submit(request_id=r.pk, actor=engineer)
    r = _move(r, "approved", "request.approve", security)
    r = _move(r, "provisioning", "request.provision")
    _pull(r, "grant", 17, "open", commands=[{"shell": "substrate setup", "why": "apply"}])
    r = _move(r, "pr_open", "request.pr_open")
    page.goto(url)
    expect(page.get_by_test_id("request-status")).to_have_text("Pull request open")
    where, next_, who = _lead(page)
    assert "pull request #17 is open, not merged" in where
    assert next_ == "Review and merge pull request #17 in the Substrate repository."
    assert who == "The security team"
    # Numbers that differ are named: this request, and the pull request the portal opened.
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Request #{r.pk}")
    expect(page.get_by_test_id("grant-pr")).to_contain_text("Pull request #17 from")
    steps = page.get_by_test_id("timeline").locator("li .step-label")
    expect(steps).to_have_text(
        [
            "Filed as a draft",
            "Submitted to security",
            "Approved",
            "Change being generated",
            "Pull request opened",
        ]
    )
    screens(page, "request-state-pr-open", fits=True)

    # Merged: the change is one it made, and its commands wait for an administrator.
    # Merged as approved: the head the forge merged is the commit the portal pushed.
    PullRequest.objects.filter(access_request=r).update(
        state="merged", approved_sha="a" * 40, merged_head_sha="a" * 40
    )
    r = _move(r, "active", "request.activate")
    page.goto(url)
    expect(page.get_by_role("heading", name="The change it made", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="The change it will make")).to_have_count(0)
    assert _lead(page)[2] == "Someone with Substrate-account Administrator"
    expect(page.get_by_test_id("post-merge-commands")).to_be_visible()
    expect(page.get_by_test_id("merge-mismatch")).to_have_count(0)

    # Revoked: the grant's commands are no longer offered; the revocation is security's.
    r = _move(r, "revoked", "request.revoke", security)
    _pull(r, "revoke", 18, "open")
    page.goto(url)
    sign_out(page)
    sign_in(page, live_server.url, "sam", password)
    page.goto(url)
    where, next_, who = _lead(page)
    assert "the revocation (pull request #18) is open" in where
    assert who == "The security team"
    expect(page.get_by_test_id("post-merge-commands")).to_have_count(0)
    expect(page.get_by_test_id("commands")).to_have_count(0)
    expect(page.get_by_role("button", name="I ran these commands")).to_have_count(0)
    expect(page.get_by_test_id("revoke-pr")).to_contain_text("Pull request #18 from")
    expect(page.get_by_test_id("timeline").locator("li .step-label").last).to_have_text("Revoked")
    screens(page, "request-state-revoked", fits=True)


def test_security_finds_any_request_and_an_engineer_cannot(
    page: Page, live_server, make_user, password
):
    engineer = make_user("erin")
    make_user("sam", Role.SECURITY, is_staff=True)
    other = make_user("omar")
    orbit = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    acme = vendor_services.vendor_create(
        actor=other, data={**vendor_data(other), "name": "Acme Scan", "slug": "acme-scan"}
    )
    staging_account()
    for _n in range(26):
        draft_request(engineer, orbit)
    acme_request = draft_request(other, acme)
    AccessRequest.objects.filter(pk=acme_request.pk).update(status="active")

    page.set_viewport_size(WIDTHS["1280"])
    sign_in(page, live_server.url, "erin", password)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My requests")).to_be_visible()
    expect(nav.get_by_role("link", name="All requests")).to_have_count(0)
    response = page.goto(f"{live_server.url}/requests/all/")
    assert response is not None
    assert response.status == 403

    page.goto(live_server.url)
    sign_out(page)
    sign_in(page, live_server.url, "sam", password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="All requests").click()
    expect(page.get_by_role("heading", name="All access requests")).to_be_visible()
    expect(page.get_by_test_id("request-count")).to_have_text("27 requests")
    expect(page.get_by_test_id("request-row")).to_have_count(25)
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    screens(page, "requests-all", fits=True)

    page.get_by_role("link", name="Next").click()
    expect(page.get_by_test_id("request-row")).to_have_count(2)

    filters = page.get_by_role("search", name="Filter requests")
    filters.get_by_label("Status").select_option("active")
    filters.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("request-row")).to_have_count(1)
    expect(page.get_by_test_id("request-row")).to_contain_text("Acme Scan")
    expect(page.get_by_test_id("request-row")).to_contain_text("omar")

    filters.get_by_label("Status").select_option("")
    filters.get_by_label("Search").fill(f"#{acme_request.pk}")
    filters.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("request-row")).to_have_count(1)
    page.get_by_role("link", name=f"Request #{acme_request.pk}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^Request #{acme_request.pk}: Acme Scan")
    )
    expect(page.get_by_test_id("standing-where")).to_contain_text("Active")
    screens(page, "requests-all-found", fits=True)
