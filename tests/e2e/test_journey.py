"""The whole journey in Chromium, through the real UI of the real processes (issue 9).

An engineer registers a vendor and fills its SOC 2 review; a security member, signed in with an
authenticator app enrolled on the portal, decides the review; the engineer files an `iam_user`
and a `role_per_account` request; two security members approve in the Django admin; the Celery
worker (a separate process, through Redis) opens the pull requests on the fake GitHub; merging
them there sends the signed webhooks to gunicorn; the IAM user appears in the AWS emulator (as
when an operator runs Terraform after the merge); beat's key poll has the worker issue the key
and e-mail the one-time link (to a mail folder); the vendor's contact opens it, reveals the key
once, and a second visit shows nothing; an auditor downloads the subprocessor report as CSV and
PDF, which are read and checked against the database.

Each step leaves a screenshot in test-results/journey/, kept after the run (the folder is
git-ignored; pytest-playwright's own output folder is test-results/playwright).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone
from playwright.sync_api import Page, expect

from accessportal.roles import Role
from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from keys.models import AccessKey
from tests.e2e.helpers import (
    enrol_totp,
    fill_soc2_review,
    fill_vendor_registration,
    sign_in,
    sign_out,
    upload_evidence,
)
from tests.fixtures.substrate_repo import FixtureRepo
from tests.reports.test_subprocessor_report import by_vendor, read_csv
from tests.stack import Stack, beat_process, iam, link_in_mail
from vendors.models import Vendor

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
USES_AWS = True  # tests/stack.py starts the AWS emulator for this module
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "journey"
CONTACT = "keys@orbit.example"
VENDOR_ROLE = "arn:aws:iam::210987654321:role/OrbitDeployer"


class Screens:
    """Numbered screenshots of the journey's steps, in the order they happen."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):  # the previous run's
            old.unlink()
        self.folder, self.count = folder, 0

    def take(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(autouse=True)
def _patient_expectations() -> Iterator[None]:
    """The worker, beat, gunicorn and Chromium share two cores with the rest of the run: an
    outcome gets 30 s to show instead of Playwright's 5 (a broken step still fails)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture
def beat(stack: Stack, worker: object) -> Iterator[None]:
    """Celery beat with the key poll every 5 s (its minimum), instead of every minute."""
    with beat_process(stack, PORTAL_KEY_POLL_SECONDS="5"):
        yield


def register_vendor(page: Page, screens: Screens) -> str:
    """The engineer registers Orbit CI and its key contact; returns the vendor page's URL."""
    fill_vendor_registration(page, slug="orbit-ci")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Orbit CI", level=1)).to_be_visible()
    expect(page.get_by_test_id("review-state")).to_have_text("No approved review")
    vendor_url = page.url

    page.get_by_role("link", name="Add a contact").click()
    page.get_by_label(re.compile(r"^Name\b")).fill("Kim Vendor")
    page.get_by_label(re.compile(r"^E-mail\b")).fill(CONTACT)
    page.get_by_label(re.compile(r"^Role\b")).fill("Platform lead")
    page.get_by_label("Receives access keys").check()
    page.get_by_role("button", name="Save").click()
    contacts = page.locator("section[aria-labelledby=contacts]")
    expect(contacts).to_contain_text(CONTACT)
    expect(contacts).to_contain_text("receives keys")
    screens.take(page, "engineer-registers-the-vendor")
    return vendor_url


def fill_and_submit_review(page: Page, screens: Screens, evidence: Path) -> str:
    """The engineer fills the SOC 2 review with evidence and submits it; returns its URL."""
    fill_soc2_review(page, report_ended=timezone.localdate() - timedelta(days=60))
    upload_evidence(page, evidence)
    page.get_by_role("button", name="Save and submit for decision").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Submitted")
    screens.take(page, "engineer-submits-the-review")
    return page.url


def file_request(
    page: Page, vendor_url: str, strategy: str, domain: str, role_name: str | None = None
) -> int:
    """The engineer files and submits a request from the vendor's page; returns its number.
    With `role_name`, the default name is refused first and `role_name` typed instead."""
    page.goto(vendor_url)
    page.get_by_role("link", name="Request AWS access").click()
    page.locator(f"input[name=strategy][value={strategy}]").check()
    if strategy != "iam_user":
        page.get_by_label("Vendor's AWS principals").fill(VENDOR_ROLE)
    page.locator("[data-group=accounts]").get_by_label(domain, exact=True).check()
    # Nothing ticked is no account: every environment and quality of the domain, explicitly.
    page.locator("input[name=environments][value='*']").check()
    page.locator("input[name=qualities][value='*']").check()
    expect(page.locator("#account-count")).to_have_text(re.compile(r"^\d+ accounts? match"))
    page.get_by_label("ReadOnlyAccess: read everything").check()
    page.get_by_label("Why the vendor needs this").fill(f"Orbit CI deploys ({strategy}).")
    page.get_by_label("Access ends on").fill(
        (timezone.localdate() + timedelta(days=60)).isoformat()
    )
    page.get_by_role("button", name="Save and submit").click()
    if role_name is not None:
        # The IAM-user request holds the default role name (from the vendor's slug).
        expect(page.locator("#field-role_name .errorlist")).to_contain_text(
            "already uses the role name OrbitCiAccess"
        )
        page.get_by_label("Name of the role created in each target account").fill(role_name)
        page.get_by_role("button", name="Save and submit").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Submitted, awaiting approval")
    expect(page.get_by_test_id("blockers")).to_have_count(0)
    number = re.search(r"/requests/(\d+)/", page.url)
    assert number, page.url
    return int(number.group(1))


def approve_in_admin(page: Page, base_url: str, request_id: int, comment: str) -> None:
    """A security member approves from the Django admin's request list and page."""
    page.goto(f"{base_url}/admin/")
    page.get_by_role("link", name="Access requests").first.click()
    page.locator("#result_list").get_by_role("link", name=str(request_id), exact=True).click()
    expect(page.get_by_role("heading", name="Decision")).to_be_visible()
    page.get_by_label("Comment (required to reject)").fill(comment)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist")).to_contain_text("Approval recorded.")


def pull_request_number(page: Page) -> int:
    """The pull request number the request page links to (the fulfilment card)."""
    link = page.get_by_test_id("fulfilment").get_by_role(
        "link", name=re.compile(r"^Pull request #\d+$")
    )
    expect(link).to_be_visible(timeout=60_000)
    return int(link.inner_text().rsplit("#", 1)[1])


def test_the_whole_journey_through_the_ui(
    stack: Stack,
    web: str,
    beat: None,
    reports_worker: object,
    substrate: FixtureRepo,
    new_context,
    make_user,
    password: str,
    tmp_path: Path,
) -> None:
    screens = Screens(SCREENS)
    make_user("erin", first_name="Erin")
    make_user("sam", Role.SECURITY, is_staff=True, first_name="Sam")
    sue = make_user("sue", Role.SECURITY, is_staff=True, first_name="Sue")
    make_user("ada", Role.AUDITORS, first_name="Ada")
    sue_secret = generate_totp_secret()
    TOTP.activate(sue, sue_secret)  # Sue set up her authenticator app earlier
    domain = substrate.services()[0].domain
    engineer, security, second, vendor_contact, auditor = (new_context() for _ in range(5))
    erin_page: Page = engineer.new_page()
    sam_page: Page = security.new_page()

    # 1. Sam (security) enrols an authenticator app, then signs in again with its code.
    sign_in(sam_page, web, "sam", password)
    sam_secret = enrol_totp(sam_page, password)
    expect(sam_page.get_by_text("Authenticator app activated.")).to_be_visible()
    screens.take(sam_page, "security-enrols-an-authenticator-app")
    sam_page.goto(web + "/")
    sign_out(sam_page)
    sign_in(sam_page, web, "sam", password, totp_secret=sam_secret)
    expect(sam_page.get_by_text("You have not enrolled a second factor")).to_have_count(0)

    # 2. Erin (engineer) registers the vendor and its key contact, fills and submits the review.
    sign_in(erin_page, web, "erin", password)
    vendor_url = register_vendor(erin_page, screens)
    evidence = tmp_path / "orbit-soc2-type2.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% Orbit CI SOC 2 Type II report\n%%EOF\n")
    review_url = fill_and_submit_review(erin_page, screens, evidence)

    # 3. Sam decides the review.
    sam_page.goto(review_url)
    sam_page.get_by_label("Approve", exact=True).check()
    sam_page.get_by_label("Comment").fill("Type II, unqualified, scope matches.")
    sam_page.get_by_role("button", name="Record decision").click()
    expect(sam_page.get_by_test_id("review-status")).to_have_text("Approved")
    screens.take(sam_page, "security-approves-the-review")

    # 4. Erin files the two requests.
    erin_page.goto(vendor_url)
    expect(erin_page.get_by_test_id("review-state")).to_have_text("Current")
    key_request = file_request(erin_page, vendor_url, "iam_user", domain)
    expect(erin_page.get_by_text("2 approvals needed")).to_be_visible()
    screens.take(erin_page, "engineer-files-the-iam-user-request")
    role_request = file_request(
        erin_page, vendor_url, "role_per_account", domain, role_name="OrbitCiDeploy"
    )
    screens.take(erin_page, "engineer-files-the-role-request")

    # 5. Two security members approve in the admin: the IAM user needs both.
    approve_in_admin(sam_page, web, key_request, "Keys for the build agents.")
    expect(sam_page.locator(".field-status .readonly")).to_have_text("Submitted, awaiting approval")
    expect(sam_page.locator("#approvals-group")).to_contain_text("Keys for the build agents.")
    screens.take(sam_page, "admin-first-approval-of-the-iam-user")
    approve_in_admin(sam_page, web, role_request, "Read-only role, reviewed vendor.")
    sue_page: Page = second.new_page()
    sign_in(sue_page, web, "sue", password, totp_secret=sue_secret)
    approve_in_admin(sue_page, web, key_request, "Second approval.")
    expect(sue_page.locator(".field-status .readonly")).to_have_text(
        re.compile(r"^(Approved|Provisioning|Pull request open)$")
    )
    screens.take(sue_page, "admin-second-approval-of-the-iam-user")

    # 6. The worker opens both pull requests on GitHub; the request pages link them.
    pulls = {}
    for request_id in (key_request, role_request):
        erin_page.goto(f"{web}/requests/{request_id}/")
        pulls[request_id] = pull_request_number(erin_page)
        expect(erin_page.get_by_test_id("request-status")).to_have_text("Pull request open")
        assert stack.github.pulls[pulls[request_id]].state == "open"
    assert len(set(pulls.values())) == 2
    screens.take(erin_page, "worker-opened-the-pull-request")

    # 7. Someone merges them on GitHub: the signed webhooks reach gunicorn.
    for number in pulls.values():
        stack.github.merge(number)
    erin_page.goto(f"{web}/requests/{role_request}/")
    expect(erin_page.get_by_test_id("request-status")).to_have_text("Active")
    expect(erin_page.get_by_test_id("fulfilment")).to_contain_text("Merged")
    screens.take(erin_page, "role-request-active-after-the-merge")
    erin_page.goto(f"{web}/requests/{key_request}/")
    expect(erin_page.get_by_test_id("request-status")).to_have_text("Active")
    # Waiting for the IAM user: before beat's poll as a note, after it on the pending key's row.
    expect(erin_page.get_by_test_id("access-keys")).to_contain_text(
        re.compile(r"Waiting.*the IAM user orbit-ci")
    )
    screens.take(erin_page, "iam-user-request-waits-for-the-iam-user")

    # 8. The operator applies the merged change: the IAM user exists. Beat's poll has the
    # worker create the key and e-mail the link; the open page notices by itself.
    iam(stack).create_user(UserName="orbit-ci")
    key_row = erin_page.get_by_test_id("access-key")
    expect(key_row).to_contain_text(f"sent to {CONTACT}", timeout=60_000)
    key = AccessKey.objects.get(access_request_id=key_request)
    expect(key_row).to_contain_text(key.masked_id)
    screens.take(erin_page, "key-issued-and-link-sent")

    # 9. The vendor's contact opens the link from the e-mail, reveals the key once.
    url, _token = link_in_mail(stack)
    vendor_page: Page = vendor_contact.new_page()
    vendor_page.goto(url)
    expect(vendor_page.get_by_role("heading", name="Your AWS access key is ready")).to_be_visible()
    screens.take(vendor_page, "vendor-opens-the-one-time-link")
    vendor_page.get_by_role("button", name="Reveal the key now").click()
    expect(vendor_page.get_by_test_id("access-key-id")).to_have_text(key.access_key_id)
    secret = vendor_page.get_by_test_id("secret-access-key").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9/+]{40}", secret)
    screens.take(vendor_page, "vendor-sees-the-key-once")
    second_visit = vendor_contact.new_page()
    second_visit.goto(url)
    expect(second_visit.get_by_role("heading", name="This link is not available")).to_be_visible()
    assert secret not in second_visit.content()
    screens.take(second_visit, "second-visit-shows-nothing")
    erin_page.reload()
    expect(key_row).to_contain_text("revealed")

    # 10. Ada (auditor) downloads the subprocessor report as CSV and PDF.
    ada_page: Page = auditor.new_page()
    sign_in(ada_page, web, "ada", password)
    ada_page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    report = ada_page.locator("section[aria-labelledby=subprocessors]")
    files = {}
    report.get_by_label("Format").select_option("csv")
    with ada_page.expect_download() as download:
        report.get_by_role("button", name="Download").click()
    files["csv"] = tmp_path / "subprocessors.csv"
    download.value.save_as(files["csv"])
    screens.take(ada_page, "auditor-downloads-the-report")
    # The PDF binder is laid out by the worker: its page follows it, then offers the file.
    report.get_by_label("Format").select_option("pdf")
    report.get_by_role("button", name="Download").click()
    expect(ada_page.get_by_role("heading", name="PDF binder")).to_be_visible()
    binder_link = ada_page.get_by_test_id("export-download")
    expect(binder_link).to_be_visible(timeout=120_000)
    screens.take(ada_page, "auditor-pdf-binder-ready")
    with ada_page.expect_download() as download:
        binder_link.click()
    files["pdf"] = tmp_path / "subprocessors.pdf"
    download.value.save_as(files["pdf"])

    vendor = Vendor.objects.get(slug="orbit-ci")
    grants = AccessRequest.objects.filter(vendor=vendor).order_by("pk")
    assert [g.status for g in grants] == ["active", "active"]
    header, rows = read_csv(files["csv"])
    assert header["Active vendor AWS grants"] == "2"
    orbit = by_vendor(rows, "Orbit CI")
    assert orbit["Inherent tier"] == vendor.get_effective_tier_display()
    assert orbit["Review status"] == "Current"
    assert orbit["Approver"] == "sam"
    assert orbit["Access strategy"] == "; ".join(sorted(g.get_strategy_display() for g in grants))
    assert orbit["Request ids"] == f"#{key_request}; #{role_request}"
    assert orbit["Approvers"] == f"#{key_request}: sam, sue; #{role_request}: sam"
    assert orbit["Auditor firm"] == "Example & Partners LLP"
    for grant in grants:
        ids = sorted(grant.target_accounts.values_list("account_id", flat=True))
        assert ids
        assert f"#{grant.pk}: {', '.join(ids)}" in orbit["Accounts"]
    for request_id, number in pulls.items():
        pr = PullRequest.objects.get(access_request_id=request_id, number=number)
        assert f"#{request_id}: {pr.url}" in orbit["Pull request / key id"]
    assert key.masked_id in orbit["Pull request / key id"]
    assert key.access_key_id not in files["csv"].read_text()

    pdf = subprocess.run(
        ["pdftotext", str(files["pdf"]), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    text = " ".join(pdf.split())
    assert "Subprocessor report" in text
    assert "Orbit CI" in text
    assert f"#{key_request}" in text
    assert f"#{role_request}" in text
    assert key.masked_id in text
    assert orbit["Inherent tier"] in text
    assert "Current" in text  # the review status
    assert "Partners LLP" in text  # the attestation's auditor firm (its cell wraps)
    vendor_page_png = SCREENS / f"{screens.count + 1:02d}-auditor-report-pdf-vendor-rows"
    pdftoppm = ["pdftoppm", "-png", "-r", "60", "-f", "2", "-l", "2", "-singlefile"]
    subprocess.run([*pdftoppm, str(files["pdf"]), str(vendor_page_png)], check=True)
    assert vendor_page_png.with_suffix(".png").stat().st_size > 10_000
