"""In Chromium: the request form's safe defaults (nothing ticked is no account, "All" and some
values do not mix, the IAM-user form says what its role name is for) and every error at once,
next to its field, with what was typed kept: the request form, the vendor's contract dates,
the extension ask and the "Before you can submit" box after each save."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from approvals.models import AccessRequest
from tests.e2e.helpers import screens, service_accounts, sign_in
from tests.factories import draft_request
from vendors import services as vendor_services
from vendors.models import Vendor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROLE = "arn:aws:iam::123456789012:role/VendorScanner"
VENDOR_CHOICE = "Orbit CI (review: No approved review)"


def _vendor(owner) -> Vendor:
    return vendor_services.vendor_create(
        actor=owner,
        data={
            "name": "Orbit CI",
            "slug": "orbit-ci",
            "service": "CI",
            "purpose": "Builds.",
            "internal_owner": owner,
            "data_sensitivity": "internal",
            "access_level": "read",
            "criticality": "medium",
        },
    )


def _open_form(page: Page, base_url: str, password: str) -> None:
    sign_in(page, base_url, "erin", password)
    page.goto(f"{base_url}/requests/new/")
    page.get_by_label("Vendor", exact=True).select_option(label=VENDOR_CHOICE)


def _field(page: Page, name: str):
    return page.locator(f"#field-{name}")


def test_nothing_ticked_is_refused_and_all_does_not_mix(
    page: Page, live_server, make_user, password
):
    _vendor(make_user("erin"))
    service_accounts(300000000001)
    _open_form(page, live_server.url, password)
    page.locator("input[name=strategy][value=role_per_account]").check()
    page.get_by_label("Vendor's AWS principals").fill(ROLE)
    page.get_by_label("ReadOnlyAccess: read everything").check()
    page.get_by_label("Why the vendor needs this").fill("Nightly scan.")
    page.get_by_label("Access ends on").fill(
        (timezone.localdate() + timedelta(days=30)).isoformat()
    )
    count = page.locator("#account-count")
    # Nothing ticked: the live count says none is chosen, not "4 accounts match".
    expect(count).to_have_text(re.compile(r"^No account chosen yet: tick All or at least one"))
    page.get_by_role("button", name="Save draft and check").click()

    for field, what in (("domains", "domain"), ("environments", "environment")):
        expect(_field(page, field).locator(".errorlist")).to_contain_text(
            f"Choose the accounts: tick All or at least one {what}."
        )
    expect(page.get_by_test_id("not-saved")).to_be_visible()
    assert not AccessRequest.objects.exists()
    expect(page.get_by_label("Vendor's AWS principals")).to_have_value(ROLE)
    screens(page, "form-errors-nothing-ticked")

    # In the page, All and some values exclude each other: ticking one unticks the other.
    domains = page.locator("[data-group=accounts]")
    domains.get_by_label("payments").check()
    domains.locator("input[name=domains][value='*']").check()
    expect(domains.get_by_label("payments")).not_to_be_checked()
    domains.get_by_label("payments").check()
    expect(domains.locator("input[name=domains][value='*']")).not_to_be_checked()

    # The server refuses the mix too (a page without its script, or the API): both ticked
    # behind the script's back are refused, not read as "all".
    page.evaluate(
        "document.querySelector(\"input[name=domains][value='*']\").checked = true;"
        'document.querySelector("input[name=environments][value=staging]").checked = true;'
        "document.querySelector(\"input[name=qualities][value='*']\").checked = true;"
    )
    page.get_by_role("button", name="Save draft and check").click()
    expect(_field(page, "domains").locator(".errorlist")).to_contain_text(
        "All already means every domain: untick All to choose only some domains."
    )
    assert not AccessRequest.objects.exists()
    screens(page, "form-errors-all-and-one-domain")

    # One domain, one environment, every quality: exactly those accounts, no production.
    domains.locator("input[name=domains][value='*']").uncheck()
    expect(count).to_have_text("1 account matches this selection.")
    page.get_by_role("button", name="Save draft and check").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Draft")
    saved = AccessRequest.objects.get()
    assert [a.name for a in saved.target_accounts.all()] == ["payments-staging"]


def test_iam_user_form_says_what_its_role_name_names(page: Page, live_server, make_user, password):
    _vendor(make_user("erin"))
    service_accounts(300000000001)
    _open_form(page, live_server.url, password)
    note = page.locator("[data-strategy=iam_user]")
    page.locator("input[name=strategy][value=role_per_account]").check()
    expect(note).to_be_hidden()
    page.locator("input[name=strategy][value=iam_user]").check()
    role_name = page.get_by_label("Name of the role created in each target account")
    expect(role_name).to_be_visible()
    expect(note).to_be_visible()
    expect(note).to_contain_text("the user itself is named after the vendor's slug")
    expect(note).to_contain_text("the role that user assumes in each account")
    screens(page, "form-iam-user-role-name")


def test_every_error_at_once_next_to_its_field_input_kept(
    page: Page, live_server, make_user, password
):
    _vendor(make_user("erin"))
    service_accounts(300000000001)
    _open_form(page, live_server.url, password)
    page.locator("input[name=strategy][value=role_per_account]").check()
    principals = "123\narn:aws:iam::123:role/x\n*\n" + ROLE
    page.get_by_label("Vendor's AWS principals").fill(principals)
    long_text = ("Nightly scan. " * 290).strip()  # 4,059 characters: over the 4,000 allowed
    justification = page.get_by_label("Why the vendor needs this")
    justification.fill(long_text)
    # No silent cut: the whole text is in the box, the server says it is too long.
    assert len(justification.input_value()) == len(long_text)
    expect(_field(page, "justification")).to_contain_text("At most 4,000 characters.")
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    page.get_by_label("Access ends on").fill(yesterday)
    page.get_by_role("button", name="Save and submit").click()

    errors = _field(page, "principals").locator(".errorlist li")
    expect(errors).to_have_count(3)  # each refused line, not only the first
    expect(errors.nth(0)).to_contain_text("'123': an AWS account id has exactly 12 digits.")
    expect(errors.nth(1)).to_contain_text("'arn:aws:iam::123:role/x'")
    expect(errors.nth(2)).to_contain_text("'*': a wildcard would let anyone assume the role.")
    expect(_field(page, "justification").locator(".errorlist")).to_contain_text(
        "at most 4000 characters (it has 4059)"
    )
    expect(_field(page, "expires_on").locator(".errorlist")).to_contain_text(
        "The end date must be in the future."
    )
    expect(_field(page, "domains").locator(".errorlist")).to_contain_text("Choose the accounts")
    expect(page.get_by_test_id("not-saved")).to_contain_text("6 fields to correct")
    # What was typed is all there.
    expect(page.get_by_label("Vendor's AWS principals")).to_have_value(principals)
    assert justification.input_value() == long_text
    expect(page.get_by_label("Access ends on")).to_have_value(yesterday)
    assert not AccessRequest.objects.exists()
    screens(page, "form-errors-every-error-at-once")


def test_before_you_can_submit_box_follows_each_save(page: Page, live_server, make_user, password):
    _vendor(make_user("erin"))
    service_accounts(300000000001)
    _open_form(page, live_server.url, password)
    page.locator("input[name=strategy][value=role_per_account]").check()
    page.get_by_label("Vendor's AWS principals").fill(ROLE)
    accounts = page.locator("[data-group=accounts]")
    for name in ("domains", "environments", "qualities"):
        accounts.locator(f"input[name={name}][value='*']").check()
    page.get_by_role("button", name="Save draft and check").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Draft")
    draft = AccessRequest.objects.get()
    edit = f"{live_server.url}/requests/{draft.pk}/edit/"

    page.goto(edit)
    box = page.get_by_test_id("submit-problems")
    expect(box).to_contain_text("Before you can submit:")
    expect(box).to_contain_text("Say why the vendor needs this access.")
    expect(box).to_contain_text("Every grant needs an end date.")

    # A refused save changes nothing saved: the box says it is the draft as last saved.
    page.get_by_label("Why the vendor needs this").fill("Nightly scan.")
    page.get_by_label("Access ends on").fill((timezone.localdate() - timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Save draft and check").click()
    expect(box).to_contain_text("The draft as last saved, before you can submit:")
    expect(box).to_contain_text("Say why the vendor needs this access.")
    expect(page.get_by_label("Why the vendor needs this")).to_have_value("Nightly scan.")
    screens(page, "form-before-submit-refused-save")

    # A save that passes: the box lists only what the saved draft still lacks.
    page.get_by_label("Access ends on").fill(
        (timezone.localdate() + timedelta(days=20)).isoformat()
    )
    page.get_by_role("button", name="Save draft and check").click()
    expect(page.get_by_test_id("request-status")).to_have_text("Draft")
    page.goto(edit)
    expect(box).to_contain_text("Choose the permissions the vendor gets.")
    expect(box).not_to_contain_text("Say why the vendor needs this access.")
    expect(box).not_to_contain_text("Every grant needs an end date.")
    screens(page, "form-before-submit-after-save")


def test_vendor_contract_dates_and_overlong_text_at_once(
    page: Page, live_server, make_user, password
):
    vendor = _vendor(make_user("erin"))
    sign_in(page, live_server.url, "erin", password)
    page.goto(f"{live_server.url}/vendors/{vendor.pk}/edit/")
    service = page.get_by_label(re.compile(r"^Service bought\b"))
    expect(page.locator("#field-service")).to_contain_text("At most 200 characters.")
    service.fill("x" * 230)
    page.get_by_label(re.compile(r"^Contract start\b")).fill("2027-06-01")
    page.get_by_label(re.compile(r"^Contract end\b")).fill("2027-01-31")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#field-contract_end .errorlist")).to_have_text(
        "The contract cannot end before it starts."
    )
    expect(page.locator("#field-service .errorlist")).to_contain_text(
        "at most 200 characters (it has 230)"
    )
    assert service.input_value() == "x" * 230
    expect(page.get_by_label(re.compile(r"^Contract end\b"))).to_have_value("2027-01-31")
    vendor.refresh_from_db()
    assert (vendor.service, vendor.contract_end) == ("CI", None)
    screens(page, "form-errors-vendor-contract-dates")


def test_refused_extension_keeps_the_date_and_says_why(
    page: Page, live_server, make_user, password
):
    engineer = make_user("erin")
    service_accounts(300000000001)
    grant = draft_request(engineer, _vendor(engineer))
    AccessRequest.objects.filter(pk=grant.pk).update(status="active")
    grant.refresh_from_db()
    assert grant.expires_on is not None
    sign_in(page, live_server.url, "erin", password)
    page.goto(f"{live_server.url}/requests/{grant.pk}/")
    until = page.get_by_label("Ask for a later end date")
    too_early = (grant.expires_on - timedelta(days=3)).isoformat()
    until.fill(too_early)
    page.get_by_label("Why the vendor still needs it").fill("The audit runs late.")
    page.get_by_role("button", name="Ask to extend").click()

    expect(page.locator("#field-until .errorlist")).to_have_text(
        "Choose a date after the current end date."
    )
    expect(page.locator("#field-until")).to_contain_text(grant.expires_on.isoformat())
    expect(until).to_have_value(too_early)
    expect(page.get_by_label("Why the vendor still needs it")).to_have_value("The audit runs late.")
    grant.refresh_from_db()
    assert grant.extension_until is None
    screens(page, "form-errors-extension-refused")
