"""The demo's truth path in Chromium, through the real processes (issue 17, "Must show").

A grant merged on the fake GitHub is "Merged, waiting to be applied" (a worker read AWS right
after the merge); security applies it in the AWS emulator from the request page, as running
its commands would, and it becomes "Active (verified in AWS)"; an edit made in the emulator
makes it "Drifted" with the difference; once revoked and its removal merged it is "Removal
merged, still in AWS" until the removal is applied, then "Revoked (verified: not in AWS)".
A trust to Datadog's account made by hand shows up on the outside-access page after a scan,
named from the vendor catalogue, and security acknowledges it. Each step leaves a screenshot
in test-results/truth/.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from fulfilment.models import PullRequest
from fulfilment.revocation import request_revoke
from provisioning import aws
from tests.e2e.helpers import sign_in
from tests.integration.helpers import approve, status
from tests.processes import wait_until
from verification.models import ExternalAccessFinding

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
USES_AWS = True  # tests/stack.py starts the AWS emulator for this module
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "truth"
DATADOG = "arn:aws:iam::464622532012:root"


def _shot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def _until_truth(page: Page, label: str, timeout: float = 90) -> None:
    """Reloads the request page until its "In AWS" panel says `label` (a worker reads AWS
    after each action; the page shows what it last read)."""
    deadline = time.monotonic() + timeout
    truth = page.get_by_test_id("truth-label")
    url = page.url.split("#")[0]
    while time.monotonic() < deadline:
        try:
            if truth.count() and truth.inner_text().strip() == label:
                return
            time.sleep(1)
            # The page may be reloading itself (its progress script): go to it afresh.
            page.goto(url)
        except PlaywrightError:
            time.sleep(0.5)
    expect(truth).to_have_text(label)


def test_merged_active_drifted_revoked_and_a_finding_in_the_browser(
    page: Page, stack, worker, web, substrate, make_user, password
):
    r = approve(make_user, substrate, "Orbit CI")
    sam = get_user_model().objects.get(username="sam")
    secret = generate_totp_secret()
    TOTP.activate(sam, secret)  # security acts with a second factor
    row = wait_until(
        lambda: PullRequest.objects.filter(access_request=r, state="open").first(),
        timeout=60,
        what="the pull request",
        log=stack.worker_log("main"),
    )
    stack.github.merge(row.number or 0)
    assert status(r) == "active"

    sign_in(page, web, "sam", password, totp_secret=secret)
    page.goto(f"{web}/requests/{r.pk}/")
    _until_truth(page, "Merged, waiting to be applied")
    expect(page.get_by_test_id("in-aws")).to_contain_text("commands still to run")
    _shot(page, "1-merged-waiting")

    page.get_by_role("button", name="Apply in the emulator").click()
    _until_truth(page, "Active (verified in AWS)")
    expect(page.get_by_test_id("in-aws-accounts")).to_contain_text("Matches")
    _shot(page, "2-active-verified")

    page.get_by_role("button", name="Edit the trust in the emulator").click()
    _until_truth(page, "Drifted")
    expect(page.get_by_test_id("in-aws-accounts")).to_contain_text("not approved")
    _shot(page, "3-drifted")

    request_revoke(request_id=r.pk, actor=sam, mfa_verified=True, reason="Vendor offboarded.")
    removal = wait_until(
        lambda: PullRequest.objects.filter(
            access_request=r, purpose="revoke", state="open"
        ).first(),
        timeout=60,
        what="the removal pull request",
        log=stack.worker_log("main"),
    )
    stack.github.merge(removal.number or 0)
    page.reload()
    _until_truth(page, "Removal merged, still in AWS")
    _shot(page, "4-removal-merged-still-in-aws")

    page.get_by_role("button", name="Apply the removal in the emulator").click()
    _until_truth(page, "Revoked (verified: not in AWS)")
    _shot(page, "5-revoked-verified")
    assert AuditEvent.objects.filter(action="emulator.remove").exists()

    # A trust made by hand in one of the organization's accounts, before anyone asked.
    account_id = substrate.services()[0].id
    aws.emulator_role_put(
        account_id,
        "LegacyMetricsReader",
        trust_statements=[
            {"Effect": "Allow", "Principal": {"AWS": DATADOG}, "Action": "sts:AssumeRole"}
        ],
    )
    page.goto(f"{web}/findings/")
    page.get_by_role("button", name="Scan now").click()
    finding = wait_until(
        lambda: ExternalAccessFinding.objects.filter(
            account_id=account_id, role_name="LegacyMetricsReader"
        ).first(),
        timeout=90,
        what="the scan to find the hand-made trust",
        log=stack.worker_log("main"),
    )
    assert finding.status == "open"
    row_locator = page.locator(f"tr[data-finding='{finding.pk}']")
    expect(row_locator).to_contain_text("Datadog", timeout=30_000)
    _shot(page, "6-unapproved-finding")

    row_locator.get_by_label("Reason").fill("Legacy metrics, replaced by request next week.")
    row_locator.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f"tr[data-finding='{finding.pk}']")).to_contain_text("Legacy metrics")
    finding.refresh_from_db()
    assert finding.status == "acknowledged"
    assert AuditEvent.objects.filter(action__startswith="finding.", object_id=str(finding.pk))
    _shot(page, "7-finding-acknowledged")
