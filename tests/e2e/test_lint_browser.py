"""In Chromium: lint that helps (issue 20). A misspelt action is an error naming the action
and the one likely meant, and blocks approval; the least-privilege generator refuses what the
portal would refuse and proposes only policies that pass its checks; a second live grant of
the same strategy for the same vendor warns, naming the other request, without blocking."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.models import AccessRequest
from inventory.models import AwsAccount
from tests.e2e.helpers import screens, sign_in
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROLE = "arn:aws:iam::123456789012:role/VendorScanner"


@pytest.fixture
def engineer(make_user):
    engineer = make_user("erin")
    vendor_services.vendor_create(
        actor=engineer,
        data={
            "name": "Orbit CI",
            "slug": "orbit-ci",
            "service": "CI",
            "purpose": "Builds.",
            "internal_owner": engineer,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
        },
    )
    AwsAccount.objects.create(
        account_id="200000000001",
        name="payments-staging",
        account_type="service",
        domain="payments",
        environment="staging",
        quality="alpha",
        status="active",
    )
    return engineer


def _start_form(page: Page, base_url: str, strategy: str) -> None:
    page.goto(f"{base_url}/requests/new/")
    page.get_by_label("Vendor", exact=True).select_option(
        label="Orbit CI (review: No approved review)"
    )
    page.locator(f"input[name=strategy][value={strategy}]").check()
    page.get_by_label("Vendor's AWS principals").fill(ROLE)
    if strategy not in ("auditor", "administrator"):
        accounts = page.locator("[data-group=accounts]")
        accounts.get_by_label("payments").check()
        # Nothing ticked is no account: the environments and qualities are chosen too.
        accounts.locator("input[name=environments][value='*']").check()
        accounts.locator("input[name=qualities][value='*']").check()
    page.get_by_label("Why the vendor needs this").fill("Reads the build artefacts.")
    page.get_by_label("Access ends on").fill(
        (timezone.localdate() + timedelta(days=30)).isoformat()
    )


def test_a_misspelt_action_is_an_error_naming_it_and_blocks_approval(
    page: Page, live_server, engineer, password
):
    sign_in(page, live_server.url, "erin", password)
    _start_form(page, live_server.url, "role_per_account")
    page.get_by_label("A custom policy document").check()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObjekt", "s3:ListBuckett"],
                "Resource": "arn:aws:s3:::orbit-artefacts/*",
            }
        ],
    }
    page.get_by_label("Policy document (JSON)").fill(json.dumps(policy, indent=2))
    page.get_by_role("button", name="Save draft and check").click()

    findings = page.get_by_test_id("checks").get_by_test_id("findings")
    expect(findings).to_contain_text(
        "error UNKNOWN_ACTION: s3:GetObjekt is not an Amazon S3 action; did you mean s3:GetObject?"
    )
    # Each misspelt action is its own finding, not folded into the first.
    expect(findings).to_contain_text("s3:ListBuckett is not an Amazon S3 action")
    expect(findings.locator("li.sev-error")).to_have_count(2)
    expect(page.get_by_test_id("blockers")).to_contain_text("The policy has lint errors.")
    screens(page, "lint-misspelt-action")
    assert AccessRequest.objects.get().has_lint_errors


def test_the_generator_refuses_another_services_arns_and_proposes_a_clean_policy(
    page: Page, live_server, engineer, password
):
    sign_in(page, live_server.url, "erin", password)
    _start_form(page, live_server.url, "role_per_account")
    page.get_by_label("A least-privilege policy generated from my choices").check()
    page.get_by_label("AWS service (IAM prefix)").fill("ec2")
    page.get_by_label("Read", exact=True).check()
    page.get_by_label("Resource ARNs").fill("arn:aws:s3:::orbit-artefacts/*")
    page.get_by_role("button", name="Save draft and check").click()
    # policy_sentry would have written S3 actions for "ec2": the form says why instead.
    expect(
        page.get_by_text("arn:aws:s3:::orbit-artefacts/* is a resource of s3, not ec2")
    ).to_be_visible()
    assert not AccessRequest.objects.exists()
    screens(page, "lint-generator-refuses-other-service")

    page.get_by_label("AWS service (IAM prefix)").fill("s3")
    page.get_by_role("button", name="Save draft and check").click()
    checks = page.get_by_test_id("checks")
    expect(checks.get_by_role("heading", name="Policy checks")).to_be_visible()
    expect(checks.locator("li.sev-error")).to_have_count(0)
    expect(page.get_by_test_id("blockers")).not_to_contain_text("lint errors")
    screens(page, "lint-generator-proposal")
    request = AccessRequest.objects.get()
    assert not request.has_lint_errors
    assert request.inline_policy is not None
    actions = {a for s in request.inline_policy["Statement"] for a in s["Action"]}
    assert "s3:GetObject" in actions
    assert all(a.startswith("s3:") for a in actions)


def test_a_second_live_grant_of_the_same_strategy_warns_naming_the_first(
    page: Page, live_server, engineer, password
):
    sign_in(page, live_server.url, "erin", password)
    _start_form(page, live_server.url, "auditor")
    page.get_by_role("button", name="Save draft and check").click()
    expect(page.get_by_test_id("no-grant-warning")).to_be_visible()
    first = AccessRequest.objects.get()
    # As fulfilment leaves it once merged (tested there).
    AccessRequest.objects.filter(pk=first.pk).update(status=AccessRequest.Status.ACTIVE)

    _start_form(page, live_server.url, "auditor")
    page.get_by_role("button", name="Save draft and check").click()
    expected = f"Request #{first.pk} (Active) already grants Orbit CI the same strategy"
    warnings = page.get_by_test_id("checks").get_by_test_id("grant-warnings")
    expect(warnings).to_contain_text(f"medium DUPLICATE_LIVE_GRANT: {expected}")
    # The form says it too, before the engineer submits.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_test_id("grant-warnings")).to_contain_text(expected)
    screens(page, "lint-duplicate-live-grant-form")
    page.get_by_role("button", name="Save and submit").click()
    # A warning, not a refusal: the request is submitted, and only the review blocks it.
    expect(page.get_by_test_id("request-status")).to_have_text("Submitted, awaiting approval")
    expect(warnings).to_contain_text(expected)
    expect(page.get_by_test_id("blockers")).not_to_contain_text("Request #")
    screens(page, "lint-duplicate-live-grant")
