"""In Chromium: the broken bits of issue 20, each as the person who met it sees it now.

The dashboard's PDF binder reads as a link for security and the auditor; the demo's Relay Alerts
grant (the README's first flow) shows its accounts, its change, its access-map row and its CSV
row; links a role cannot open are not shown (the engineer's own pull request, the auditor's
"Request access"); the admin's decision box says where the quorum stands and offers no Approve
to one who approved; security's dashboard says first that approving needs a second factor,
with its Approve buttons disabled until then. Screenshots in test-results/screens/.
"""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.management import call_command
from playwright.sync_api import Page, expect

from accessportal.roles import Role
from approvals import decisions
from approvals.models import AccessRequest, Strategy
from demo.aws_org import KEY_DEMO_VENDOR_SLUG
from fulfilment.models import PullRequest
from tests.approvals.helpers import submitted
from tests.e2e.helpers import screens, sign_in, sign_out
from tests.factories import staging_account
from tests.fulfilment.helpers import reviewed_vendor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BRAND = "rgb(11, 79, 138)"  # --brand in static/css/portal.css


def _waiting_request(make_user):  # type: ignore[no-untyped-def]
    """A request of Erin's for a reviewed vendor, submitted and needing two approvals."""
    erin = make_user("erin")
    vendor = reviewed_vendor(erin, make_user("rita", Role.SECURITY))
    staging_account()
    r = submitted(vendor, erin)
    AccessRequest.objects.filter(pk=r.pk).update(required_approvals=2)
    return r


@pytest.mark.parametrize("role", [Role.SECURITY, Role.AUDITORS])
def test_the_dashboards_pdf_binder_reads_as_a_link(
    page: Page, live_server, make_user, password, role
):
    make_user("reader", role, is_staff=role == Role.SECURITY)
    sign_in(page, live_server.url, "reader", password)
    shortcuts = page.get_by_test_id("report-shortcuts")
    binders = shortcuts.get_by_role("button", name="PDF binder")
    expect(binders).to_have_count(2)
    for index in range(2):
        binder = binders.nth(index)
        expect(binder).to_be_visible()
        # Its text has the links' colour, not the buttons' white on the white card.
        expect(binder).to_have_css("color", BRAND)
        expect(binder).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    expect(shortcuts.get_by_role("link", name="XLSX").first).to_have_css("color", BRAND)
    screens(page, f"dashboard-pdf-binder-{role}")


def test_the_demo_key_grant_shows_accounts_change_map_row_and_csv_row(
    page: Page, live_server, make_user, password, settings, tmp_path
):
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")
    call_command("seed_demo", stdout=StringIO())
    grant = AccessRequest.objects.get(vendor__slug=KEY_DEMO_VENDOR_SLUG, strategy=Strategy.IAM_USER)
    make_user("ari", Role.AUDITORS)
    sign_in(page, live_server.url, "ari", password)

    page.goto(f"{live_server.url}/requests/{grant.pk}/")
    expect(page.get_by_role("heading", name=f"Request #{grant.pk}: Relay Alerts")).to_be_visible()
    expect(page.get_by_text("4 accounts", exact=True)).to_be_visible()
    for name in ("web-development-alpha", "web-production-beta"):
        expect(page.get_by_role("row").filter(has_text=name)).to_have_count(1)
    expect(page.get_by_text("root-modules/admin/alpha/global/relay-alerts.tf")).to_be_visible()
    expect(page.get_by_text("cannot be generated")).to_have_count(0)
    expect(page.get_by_text("No preview")).to_have_count(0)
    screens(page, "demo-key-grant-request")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Access map").click()
    row = page.get_by_role("row", name="Relay Alerts")
    expect(row.locator(f'a[href="/requests/{grant.pk}/"]')).to_have_count(4)
    screens(page, "demo-key-grant-access-map")

    response = page.request.get(f"{live_server.url}/reports/subprocessors/?format=csv")
    assert response.ok
    lines = response.text().lstrip("\ufeff").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Vendor legal name,"))
    rows = csv.DictReader(io.StringIO("\n".join(lines[header:])))
    relay = next(row for row in rows if row["Vendor"] == "Relay Alerts")
    ids = sorted(grant.target_accounts.values_list("account_id", flat=True))
    assert len(ids) == 4
    assert relay["Accounts"] == f"#{grant.pk}: {', '.join(ids)}"


def test_links_a_role_cannot_open_are_not_shown(page: Page, live_server, make_user, password):
    base = live_server.url
    r = _waiting_request(make_user)
    PullRequest.objects.create(
        access_request=r,
        forge=PullRequest.Forge.LOCAL,
        number=7,
        branch="vendor-access/req-1",
        base="main",
        state=PullRequest.State.OPEN,
        title="Vendor access",
        url="/pulls/7/",
    )
    make_user("sam", Role.SECURITY, is_staff=True)
    make_user("ari", Role.AUDITORS)

    # The engineer's own request: the pull request by number, no link to security's page.
    sign_in(page, base, "erin", password)
    page.goto(f"{base}/requests/{r.pk}/")
    fulfilment = page.get_by_test_id("fulfilment")
    expect(fulfilment).to_contain_text("Pull request #7")
    expect(fulfilment.get_by_role("link", name="#7")).to_have_count(0)
    screens(page, "links-engineer-pull-request")
    sign_out(page)

    # Security (and auditors) may open it: the link is there for them.
    sign_in(page, base, "sam", password)
    page.goto(f"{base}/requests/{r.pk}/")
    expect(page.get_by_test_id("fulfilment").get_by_role("link", name="#7")).to_have_attribute(
        "href", "/pulls/7/"
    )
    sign_out(page)

    # The auditor changes nothing: no "Request access" on the dashboard or the request list.
    sign_in(page, base, "ari", password)
    mine = page.get_by_role("region", name="My open requests")
    expect(mine).to_contain_text("None.")
    expect(page.get_by_role("link", name="Request access for a vendor")).to_have_count(0)
    screens(page, "links-auditor-dashboard")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My requests").click()
    expect(page.get_by_role("heading", name="My access requests")).to_be_visible()
    expect(page.get_by_role("link", name="Request access for a vendor")).to_have_count(0)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pull requests").click()
    expect(page.get_by_role("link", name="#7")).to_be_visible()  # auditors read them
    sign_out(page)

    # The engineer still finds the way to a new request.
    sign_in(page, base, "erin", password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My requests").click()
    page.get_by_role("link", name="Request access for a vendor").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Request")
    assert page.url.endswith("/requests/new/")


def test_the_admin_decision_box_shows_the_quorum_and_no_second_approve(
    page: Page, live_server, make_user, password
):
    base = live_server.url
    r = _waiting_request(make_user)
    secrets = {}
    for name in ("sam", "sasha"):
        secrets[name] = generate_totp_secret()
        TOTP.activate(make_user(name, Role.SECURITY, is_staff=True), secrets[name])
    # Sam approved already (through the service, as the request page records it).
    decisions.request_approve(
        request_id=r.pk,
        approver=r.requester.__class__.objects.get(username="sam"),
        mfa_verified=True,
        comment="Staging only, fine.",
    )
    admin_page = f"{base}/admin/approvals/accessrequest/{r.pk}/change/"

    sign_in(page, base, "sam", password, totp_secret=secrets["sam"])
    page.goto(admin_page)
    expect(page.get_by_role("heading", name="Decision")).to_be_visible()
    expect(page.get_by_test_id("quorum")).to_have_text("1 of 2 approvals")
    expect(page.get_by_test_id("own-decision")).to_contain_text("You decided this request")
    expect(page.get_by_test_id("who-decides")).to_contain_text("sam")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)
    screens(page, "admin-decision-box-after-approving")
    page.goto(f"{base}/")  # the admin's pages have their own header
    sign_out(page)

    sign_in(page, base, "sasha", password, totp_secret=secrets["sasha"])
    page.goto(admin_page)
    expect(page.get_by_test_id("quorum")).to_have_text("1 of 2 approvals")
    expect(page.get_by_test_id("own-decision")).to_have_count(0)
    page.get_by_label("Comment (required to reject)").fill("Second look, fine.")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist")).to_contain_text("Approval recorded.")
    expect(page.get_by_test_id("quorum")).to_have_text("2 of 2 approvals")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)


def test_security_dashboard_says_first_that_approving_needs_a_second_factor(
    page: Page, live_server, make_user, password
):
    base = live_server.url
    r = _waiting_request(make_user)
    make_user("sam", Role.SECURITY, is_staff=True)
    sasha_secret = generate_totp_secret()
    TOTP.activate(make_user("sasha", Role.SECURITY, is_staff=True), sasha_secret)

    # Sam has no authenticator app: the notice comes first and the Approve button is disabled.
    sign_in(page, base, "sam", password)
    notice = page.get_by_test_id("mfa-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("You have not enrolled a second factor")
    expect(notice.get_by_role("link", name="set up an authenticator app")).to_be_visible()
    roles = page.get_by_role("region", name="Your roles")
    notice_box, roles_box = notice.bounding_box(), roles.bounding_box()
    assert notice_box
    assert roles_box
    assert notice_box["y"] < roles_box["y"]
    waiting = page.get_by_role("region", name="Requests awaiting your approval")
    expect(waiting).to_contain_text(f"#{r.pk}")
    expect(waiting.get_by_test_id("quorum")).to_have_text("0 of 2 approvals")
    approve = waiting.get_by_role("button", name="Approve")
    expect(approve).to_be_disabled()
    expect(approve).to_have_attribute("aria-describedby", "mfa-notice")
    screens(page, "dashboard-mfa-notice")
    sign_out(page)

    # Sasha signed in with her second factor: no notice, the button works.
    sign_in(page, base, "sasha", password, totp_secret=sasha_secret)
    expect(page.get_by_test_id("mfa-notice")).to_have_count(0)
    waiting = page.get_by_role("region", name="Requests awaiting your approval")
    expect(waiting.get_by_role("button", name="Approve")).to_be_enabled()
    screens(page, "dashboard-mfa-verified")

    # Her approval counts on the dashboard of whoever may still decide: "1 of 2", as the admin.
    waiting.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("region", name="Requests awaiting your approval")).not_to_contain_text(
        f"#{r.pk} "
    )
    sign_out(page)
    make_user("sol", Role.SECURITY, is_staff=True)
    sign_in(page, base, "sol", password)
    waiting = page.get_by_role("region", name="Requests awaiting your approval")
    expect(waiting.get_by_test_id("quorum")).to_have_text("1 of 2 approvals")
