"""In Chromium: security edits an approval rule, two other members approve the change, and the
request page shows the new approvers (issue 18, "Must show").

Sam proposes that the security team's rule be decided by two from security-payments; Sasha
and Lena approve it on the rules page, each with their second factor; the change is then in
force, and the waiting request's page names Pia and Paul (security-payments) as those who
may still approve, and offers Sasha no Approve button. Screenshots in test-results/rules/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from playwright.sync_api import Page, expect

from accessportal.roles import Role
from approvals.models import ApprovalRuleSet
from tests.approvals.helpers import submitted
from tests.e2e.helpers import sign_in, sign_out
from tests.factories import staging_account
from tests.fulfilment.helpers import reviewed_vendor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "rules"


def _shot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _waiting_request(make_user):  # type: ignore[no-untyped-def]
    """A submitted request of Erin's for a vendor whose review Rita approved."""
    erin = make_user("erin")
    vendor = reviewed_vendor(erin, make_user("rita", Role.SECURITY))
    staging_account()
    return submitted(vendor, erin)


def test_a_rule_change_approved_by_two_others_changes_who_may_approve(
    page: Page, live_server, make_user, password
):
    base = live_server.url
    secrets = {}
    for name in ("sam", "sasha", "lena"):
        secrets[name] = generate_totp_secret()
        TOTP.activate(make_user(name, Role.SECURITY, is_staff=True), secrets[name])
    for name in ("pia", "paul"):
        make_user(name, Role.SECURITY, "security-payments")
    r = _waiting_request(make_user)
    request_page = f"{base}/requests/{r.pk}/"

    sign_in(page, base, "sam", password, totp_secret=secrets["sam"])
    page.goto(request_page)
    who = page.get_by_test_id("who-decides")
    expect(who).to_contain_text("approval rules version 1")
    expect(who.locator("tr[data-group=security] [data-testid=may-approve]")).to_contain_text(
        "sasha"
    )

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approval rules").click()
    expect(page.get_by_test_id("rules-in-force")).to_contain_text("Security team")
    page.get_by_role("link", name="Propose a change").click()
    page.locator("select[name=rules-0-approver_group]").select_option("security-payments")
    page.locator("input[name=rules-0-quorum]").fill("2")
    page.get_by_label("Why change the rules").fill("Payments decides its own vendors' access.")
    _shot(page, "1-edit-rule")
    page.get_by_role("button", name="Propose").click()
    proposal = page.get_by_test_id("proposal")
    expect(proposal).to_contain_text("Proposed: version 2 (0 of 2 approvals)")
    expect(page.get_by_test_id("proposal-changes")).to_contain_text(
        "Changed Security team: approver group security -> security-payments; "
        "quorum as risk asks -> 2."
    )
    # The proposer cannot approve their own change.
    expect(page.get_by_test_id("vote-refusal")).to_contain_text("You proposed this change")
    expect(page.get_by_role("button", name="Approve the change")).to_have_count(0)
    _shot(page, "2-proposed")
    sign_out(page)

    for number, name in enumerate(("sasha", "lena"), start=1):
        sign_in(page, base, name, password, totp_secret=secrets[name])
        page.goto(f"{base}/rules/")
        page.get_by_label("Comment (required to reject)").fill(f"Agreed ({name}).")
        page.get_by_role("button", name="Approve the change").click()
        if number == 1:
            expect(page.get_by_test_id("proposal")).to_contain_text("(1 of 2 approvals)")
            sign_out(page)
    expect(page.get_by_text("Version 2 is in force.")).to_be_visible()
    expect(page.get_by_test_id("rules-in-force")).to_contain_text("security-payments")
    _shot(page, "3-in-force")
    assert ApprovalRuleSet.objects.get(status="active").version == 2

    # Lena (security, not security-payments) no longer decides the request.
    page.goto(request_page)
    who = page.get_by_test_id("who-decides")
    expect(who).to_contain_text("approval rules version 2")
    row = who.locator("tr[data-group=security-payments]")
    expect(row).to_contain_text("2")
    expect(row.get_by_test_id("may-approve")).to_have_text("paul, pia")
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    _shot(page, "4-request-new-approvers")
