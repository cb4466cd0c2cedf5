"""In Chromium: one visual language across the pages (issue 20): every status is the same badge
shape with its own tone, a long table keeps its header row in view while it scrolls, and the
request page's timeline lists its steps in order. Screenshots at 1280 and 390 px are kept in
test-results/screens/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accessportal.roles import Role
from approvals.models import AccessRequest
from tests.e2e.helpers import screens, sign_in
from tests.factories import draft_request, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _badge(page: Page, status: str) -> dict[str, str]:
    """The computed look of the first badge of `status` on the page."""
    return page.locator(f"span.status-{status}").first.evaluate(
        """el => {
            const s = getComputedStyle(el);
            return {radius: s.borderTopLeftRadius, colour: s.color,
                    background: s.backgroundColor, display: s.display};
        }"""
    )


def test_statuses_share_one_badge_and_long_tables_keep_their_header(
    page: Page, live_server, make_user, password
):
    engineer = make_user("erin")
    make_user("sam", Role.SECURITY, is_staff=True)
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    ids = [draft_request(engineer, vendor).pk for _n in range(24)]
    AccessRequest.objects.filter(pk=ids[0]).update(status="active")
    AccessRequest.objects.filter(pk=ids[1]).update(status="failed")
    AccessRequest.objects.filter(pk=ids[2]).update(status="submitted")

    page.set_viewport_size({"width": 1280, "height": 700})
    sign_in(page, live_server.url, "sam", password)
    page.goto(f"{live_server.url}/requests/all/")
    expect(page.get_by_test_id("request-row")).to_have_count(24)

    # One shape (a pill), a tone per meaning: active, failed, submitted and draft all differ.
    looks = {status: _badge(page, status) for status in ("active", "failed", "submitted", "draft")}
    assert {look["display"] for look in looks.values()} == {"inline-block"}
    assert len({look["radius"] for look in looks.values()}) == 1
    assert looks["active"]["radius"] not in ("0px", "")
    assert len({look["background"] for look in looks.values()}) == 4
    assert len({look["colour"] for look in looks.values()}) == 4
    screens(page, "visual-badges-and-table")

    # Scrolled to the table's last row, its header row is still at the top of the window.
    header = page.locator("table thead th").first
    page.get_by_test_id("request-row").last.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 200
    box = header.bounding_box()
    assert box is not None
    assert 0 <= box["y"] < 5, box
    expect(header).to_be_in_viewport()


def test_the_request_page_timeline_lists_its_steps_in_order(
    page: Page, live_server, make_user, password
):
    engineer = make_user("erin")
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    staging_account()
    request = draft_request(engineer, vendor)

    sign_in(page, live_server.url, "erin", password)
    page.goto(f"{live_server.url}/requests/{request.pk}/")
    page.get_by_role("button", name="Submit").click()
    timeline = page.locator("ol.timeline")
    steps = timeline.locator("li.step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("Filed as a draft")
    expect(steps.nth(1)).to_contain_text("Submitted to security")
    # Each step says when, in a machine-readable <time>, oldest first.
    times = [steps.nth(i).locator("time").get_attribute("datetime") or "" for i in range(2)]
    assert all(times), times
    assert times == sorted(times)
    # The dot of each step is drawn by the component's own style, not by the list's bullets.
    assert timeline.evaluate("el => getComputedStyle(el).listStyleType") == "none"
    dot = steps.nth(0).evaluate("el => getComputedStyle(el, '::before').borderRadius")
    assert dot == "50%"
    screens(page, "visual-timeline", fits=True)
