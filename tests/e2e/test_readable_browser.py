"""In Chromium: the portal's data as people read it (issue 20, "Readable data" and the key page).

Policies as indented JSON, the admin's preview and risk reasons rendered, the pull request
description as Markdown (a vendor's `<script>` stays text), data categories by their labels,
the review checklist by section with its count, and the one-time key page listing the roles to
assume with copy buttons. Each page is kept at 1280 and at 390 pixels wide.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from accessportal.roles import Role
from approvals import requests as request_services
from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from fulfilment.services import request_body
from inventory.models import AwsAccount
from keys import services as keys
from keys.models import KeyDelivery
from provisioning.aws import aws_client
from provisioning.substrate import ChangeSet, Command, Dialect, FileAction, FileChange, Strategy
from tests.e2e.helpers import screens
from tests.factories import force_login_with_mfa, iam_user_grant, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NARROW: ViewportSize = {"width": 390, "height": 844}
WIDE: ViewportSize = {"width": 1280, "height": 800}

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ce:GetCostAndUsage"], "Resource": "*"},
    ],
}


def _signed_in(page: Page, base_url: str, user: Any) -> None:
    """The browser holds a session of `user` signed in with a second factor (as the admin
    requires), made by the test client rather than by typing a TOTP code each time."""
    client = Client()
    force_login_with_mfa(client, user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )


def _fits_narrow(page: Page, test_id: str) -> None:
    """At 390 pixels, the element and everything in it ends inside the viewport (long ARNs,
    JSON and commands wrap rather than push the page sideways)."""
    page.set_viewport_size(NARROW)
    right = page.get_by_test_id(test_id).evaluate(
        "el => Math.max(el.getBoundingClientRect().right,"
        " ...[...el.querySelectorAll('*')].map(c => c.getBoundingClientRect().right))"
    )
    assert right <= NARROW["width"], f"{test_id} reaches {right}px at {NARROW['width']}px"


def _inline_request(owner: Any, **vendor_fields: Any) -> AccessRequest:
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner, **vendor_fields))
    staging_account()
    return request_services.request_save(
        actor=owner,
        data={
            "vendor": vendor,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123456789012:role/V",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "policy_source": "inline",
            "inline_policy": json.dumps(POLICY),
            "justification": "Cost reports.",
            "expires_on": timezone.localdate() + timedelta(days=9),
        },
    )


def test_the_request_page_shows_the_policy_as_indented_json(page: Page, live_server, make_user):
    engineer = make_user("erin")
    access_request = _inline_request(engineer)
    _signed_in(page, live_server.url, engineer)
    page.goto(live_server.url + reverse("approvals:request_detail", args=[access_request.pk]))

    shown = page.get_by_test_id("inline-policy").inner_text()
    # JSON anyone can paste into AWS, indented; not Python's repr ('Version', True).
    assert json.loads(shown) == access_request.inline_policy
    assert '\n  "Version": "2012-10-17"' in shown
    assert "'" not in shown
    screens(page, "readable-request-policy")
    _fits_narrow(page, "inline-policy")


def test_the_admin_shows_the_preview_and_risk_reasons_rendered(page: Page, live_server, make_user):
    engineer = make_user("erin")
    security = make_user("sasha", Role.SECURITY, is_staff=True)
    access_request = _inline_request(engineer)
    AccessRequest.objects.filter(pk=access_request.pk).update(
        risk_reasons=["Reads every bucket", "Vendor <b>Orbit</b> asked for two accounts"],
        preview={
            "commit": "0123456789abcdef0123",
            "files": [
                {
                    "action": "create",
                    "path": "policies/orbit-ci.policy.json",
                    "content": '{\n  "Version": "2012-10-17"\n}\n',
                }
            ],
            "commands": ["substrate role create --role OrbitCiAccess --domain payments"],
            "warnings": ["The role is new in 1 account."],
        },
    )
    _signed_in(page, live_server.url, security)
    page.goto(
        live_server.url + reverse("admin:approvals_accessrequest_change", args=[access_request.pk])
    )

    shown = page.locator("#content").inner_text()
    for raw in ('["Reads every bucket"', '{"files": [', '{"Version": "2012-10-17"'):
        assert raw not in shown  # no document as the admin's one line of JSON
    reasons = page.locator(".field-risk_reasons_list li")
    expect(reasons).to_have_count(2)
    # A reason is text, escaped: no <b> element made of the vendor's words.
    expect(reasons.nth(1)).to_have_text("Vendor <b>Orbit</b> asked for two accounts")
    expect(page.locator(".field-risk_reasons_list b")).to_have_count(0)

    preview = page.get_by_test_id("admin-preview")
    expect(preview).to_contain_text("Against commit 0123456789ab")
    expect(preview).to_contain_text("The role is new in 1 account.")
    expect(preview.locator("summary")).to_have_text("create policies/orbit-ci.policy.json")
    expect(preview.locator("pre").last).to_have_text(
        "substrate role create --role OrbitCiAccess --domain payments"
    )
    assert '"files"' not in preview.inner_text()  # not the stored JSON
    preview.locator("summary").click()
    expect(preview.locator("details pre")).to_contain_text('"Version": "2012-10-17"')

    policy = page.locator(".field-inline_policy_json pre").inner_text()
    assert json.loads(policy) == POLICY
    assert policy.index('"Version"') < policy.index('"Statement"')  # as written, not sorted
    screens(page, "readable-admin-preview")


def test_the_pull_request_description_is_markdown_and_a_vendor_script_stays_text(
    page: Page, live_server, make_user
):
    engineer = make_user("erin")
    security = make_user("sasha", Role.SECURITY)
    name = "<script>window.pwned = 1</script> Orbit"
    access_request = _inline_request(engineer, name=name)
    changeset = ChangeSet(
        vendor="orbit-ci",
        strategy=Strategy.ROLE_PER_ACCOUNT,
        dialect=Dialect.ROLE_CREATE,
        substrate_version="2024.03",
        revoke=False,
        files=(FileChange("policies/orbit-ci.policy.json", FileAction.CREATE, "{}\n"),),
        commands=(Command(("substrate", "setup"), why="refresh the roles"),),
    )
    pr = PullRequest.objects.create(
        access_request=access_request,
        forge=PullRequest.Forge.LOCAL,
        number=7,
        branch="vendor-access/7",
        base="main",
        state=PullRequest.State.OPEN,
        title="Grant vendor access",
        body=request_body(access_request, changeset),  # the body the portal pushes
    )
    assert name not in pr.body  # the body escapes it already; the renderer is the second wall

    _signed_in(page, live_server.url, security)
    page.goto(live_server.url + reverse("approvals:pullrequest_detail", args=[7]))
    body = page.get_by_test_id("pr-body")
    expect(body.get_by_role("heading", level=3)).to_have_text(f"Grant vendor access: {name}")
    expect(body.locator("li", has_text="Vendor:").locator("strong")).to_have_text("Vendor:")
    expect(body.locator("pre code")).to_contain_text("substrate setup")
    expect(body.get_by_role("link", name="the access request")).to_have_attribute(
        "href", re.compile(rf"/requests/{access_request.pk}/$")
    )
    expect(body.locator("script")).to_have_count(0)
    assert page.evaluate("typeof window.pwned") == "undefined"
    screens(page, "readable-pull-request")
    _fits_narrow(page, "pr-body")


def test_the_markdown_renderer_keeps_raw_html_as_text(page: Page, live_server, make_user):
    """Even a body that was not escaped when written (another tool's, a forge edit): raw HTML
    and a javascript: link come out as text."""
    engineer = make_user("erin")
    security = make_user("sasha", Role.SECURITY)
    access_request = _inline_request(engineer)
    PullRequest.objects.create(
        access_request=access_request,
        forge=PullRequest.Forge.LOCAL,
        number=8,
        branch="vendor-access/8",
        base="main",
        state=PullRequest.State.OPEN,
        body=(
            '## <script>window.pwned = 1</script>\n\n<img src=x onerror="window.pwned = 2">\n\n'
            "[click](javascript:window.pwned=3)\n"
        ),
    )
    _signed_in(page, live_server.url, security)
    page.goto(live_server.url + reverse("approvals:pullrequest_detail", args=[8]))
    body = page.get_by_test_id("pr-body")
    expect(body.get_by_role("heading", level=3)).to_have_text("<script>window.pwned = 1</script>")
    expect(body).to_contain_text('<img src=x onerror="window.pwned = 2">')
    expect(body.locator("script, img, a[href^=javascript]")).to_have_count(0)
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_the_vendor_page_names_data_categories_by_label(page: Page, live_server, make_user):
    engineer = make_user("erin")
    vendor = vendor_services.vendor_create(
        actor=engineer,
        data=vendor_data(engineer, data_categories=["source_code", "personal_data"]),
    )
    _signed_in(page, live_server.url, engineer)
    page.goto(live_server.url + reverse("vendors:detail", args=[vendor.pk]))
    expect(page.get_by_test_id("data-categories")).to_have_text("Source code, Personal data")
    screens(page, "readable-vendor-categories")


def test_the_review_checklist_is_grouped_by_section_with_its_count(
    page: Page, live_server, make_user
):
    engineer = make_user("erin")
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    answers = list(review.answers.select_related("item").order_by("item__order", "item_code"))
    total = len(answers)
    assert total == 23  # the seeded checklist (SOC2.md section 2)
    first_two = [a.pk for a in answers if a.item.section == "A"][:2]
    vendor_services.review_update(
        review_id=review.pk,
        actor=engineer,
        report={"trust_services_categories": ["security", "processing_integrity"]},
        answers={pk: ("yes", "") for pk in first_two},
    )
    _signed_in(page, live_server.url, engineer)
    page.goto(live_server.url + reverse("vendors:review_edit", args=[review.pk]))

    expect(page.get_by_test_id("checklist-progress")).to_have_text(f"2 of {total} answered")
    headings = page.locator("#review-form h3")
    expect(headings).to_have_count(5)
    expect(headings.first).to_contain_text("A. Scope and tier")
    expect(page.get_by_test_id("section-progress-A")).to_have_text("2 of 4 answered")
    expect(page.get_by_test_id("section-progress-B")).to_have_text("0 of 11 answered")
    # Each item sits under its own section's heading.
    expect(
        page.locator("section.checklist-section", has=page.locator("#section-B")).locator(
            "#item-B5"
        )
    ).to_have_count(1)
    screens(page, "readable-review-form")

    page.locator("#item-B5").get_by_label("Yes", exact=True).check()
    # The count follows the choice at once, before saving.
    expect(page.get_by_test_id("checklist-progress")).to_have_text(f"3 of {total} answered")
    expect(page.get_by_test_id("section-progress-B")).to_have_text("1 of 11 answered")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Review saved.")
    expect(page.get_by_test_id("checklist-progress")).to_have_text(f"3 of {total} answered")
    expect(page.get_by_test_id("section-progress-B")).to_have_text("1 of 11 answered")

    page.goto(live_server.url + reverse("vendors:review_detail", args=[review.pk]))
    expect(page.get_by_test_id("checklist-progress")).to_have_text(f"3 of {total} answered")
    expect(page.get_by_test_id("section-progress-E")).to_have_text("0 of 3 answered")
    expect(page.get_by_test_id("trust-services")).to_have_text("Security, Processing integrity")
    expect(page.locator("table[aria-labelledby=section-C] tbody tr")).to_have_count(3)
    screens(page, "readable-review-detail")


def test_the_key_page_lists_the_roles_to_assume_with_copy_buttons(
    page: Page, live_server, settings, aws_endpoint, make_user
):
    settings.PORTAL_BASE_URL = live_server.url
    staging_account()
    AwsAccount.objects.create(
        account_id="444455556666",
        name="p",
        account_type="service",
        domain="payments",
        environment="production",
        quality="alpha",
    )
    grant = iam_user_grant(make_user("erin"))  # both payments accounts
    aws_client("iam").create_user(UserName="orbit-ci")
    key = keys.access_key_issue(request_id=grant.pk)
    assert key is not None
    url = next(
        found.group(0)
        for message in mail.outbox
        if (found := re.search(r"https?://\S+/keys/[A-Za-z0-9_-]{43}/", str(message.body)))
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(url)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Reveal the key now").click()
    assert "no-store" in answer.value.headers["cache-control"]

    # What the vendor configures: the role in each granted account, named as the generator
    # names it (the grant's role name in each account), and the region.
    roles = page.get_by_test_id("role-arn")
    expect(roles).to_have_text(
        [
            # The inventory's order: payments/production, then payments/staging.
            "arn:aws:iam::444455556666:role/OrbitCiAccess",
            "arn:aws:iam::111122223333:role/OrbitCiAccess",
        ]
    )
    expect(page.get_by_test_id("key-region")).to_have_text(settings.AWS_REGION)
    expect(page.get_by_test_id("access-key-id")).to_have_text(key.access_key_id)
    secret = page.get_by_test_id("secret-access-key").inner_text()
    assert len(secret) == 40

    page.get_by_role("button", name="Copy the role ARN 2").click()
    expect(page.get_by_role("button", name="Copy the role ARN 2")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == (
        "arn:aws:iam::111122223333:role/OrbitCiAccess"
    )
    page.get_by_role("button", name="Copy the secret access key").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screens(page, "readable-key-roles")
    _fits_narrow(page, "key-reveal")
    _fits_narrow(page, "key-roles")
    assert KeyDelivery.objects.get().ciphertext is None

    page.reload()  # the secret is still shown once
    expect(page.get_by_role("heading", name="This link is not available")).to_be_visible()
    assert secret not in page.content()
