"""In Chromium: every page of the portal, as each role sees it, at 1280 and 390 px wide, passes
axe-core with no serious or critical violation (issue 20).

The pages come from the URLconf, like tests/security/test_authorization_matrix.py: each route
is either opened by some role here or listed in NOT_PAGES with the reason, so a new page
cannot be forgotten. Each role opens every route in its own browser context; a route that
answers the role with a page (200, HTML, no redirect) is checked, one that refuses it is not
that role's page (who may open what is the matrix's business). Screenshots:
test-results/screens/<role>-<page>-<width>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from axe_playwright_python.sync_playwright import Axe
from django.contrib import admin
from django.urls import get_resolver, reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from api import tokens
from approvals import decisions
from approvals import requests as request_services
from approvals.models import AccessRequest
from inventory.models import AccountSyncRun
from keys.models import AccessKey
from recertification import services as recertification_services
from tests.e2e.helpers import totp_code
from tests.factories import draft_request
from tests.reports.conftest import Org, submitted_request
from tests.reports.conftest import org as org  # the fixture, shared
from tests.security.test_authorization_matrix import (
    EXPORT_OWNER_WRITE,
    OWNER_WRITE,
    SECURITY,
    SELF_SERVICE,
    WRITE,
    _event_endpoint,
    _finding,
    _ready_binder,
    _routes,
)
from vendors import services as vendor_services
from verification.models import KnownVendorAccount

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"
WIDTHS = ((1280, 800), (390, 844))
BLOCKING_IMPACTS = {"serious", "critical"}

# Routes that are no page to look at, and why. Everything else must be opened by some role.
NOT_PAGES = {
    "healthz": "plain-text probe for the load balancer",
    "approvals:webhook_github": "POST-only webhook of the forge",
    "approvals:webhook_gitlab": "POST-only webhook of the forge",
    "approvals:accounts_count": "JSON fragment polled by the accounts page",
    "approvals:accounts_sync_status": "HTML fragment polled into the accounts page",
    "approvals:request_progress": "JSON polled by the request page",
    "approvals:request_key_state": "JSON polled by the request page",
    "approvals:request_verify_status": "HTML fragment polled into the request page",
    "verification:scan_status": "HTML fragment polled into the findings page",
    "vendors:evidence_download": "the uploaded PDF itself",
    "reports:subprocessors": "the CSV/XLSX export (its page is reports:index)",
    "reports:audit_trail": "the JSONL/CSV export",
    "reports:export_download": "the PDF binder itself",
    "recertification:campaign_csv": "the CSV export",
    "recertification:campaign_pdf": "the PDF export",
    "api:schema": "the OpenAPI document (YAML)",
    # Swagger UI is a third-party application (drf-spectacular-sidecar) with its own markup
    # and colours; axe finds upstream's problems there (its method labels' contrast, controls
    # nested in controls), which the portal cannot fix by its templates.
    "api:docs": "Swagger UI, third-party markup (see above)",
    "account_confirm_email": "needs an e-mail confirmation key from a mail",
    "account_reset_password_from_key": "needs a reset key from a mail",
    "account_confirm_login_code": "only during a sign-in by code, which the portal turns off",
    "account_request_reauthentication_code": "sign-in by code is off",
    "account_confirm_reauthentication_code": "sign-in by code is off",
    "mfa_download_recovery_codes": "a text file",
    "account_set_password": "only for an account without a password (SSO sign-in only)",
    "socialaccount_signup": "only in the middle of an SSO sign-up",
    "mfa_reauthenticate": "only when an action asks for the second factor again",
    # allauth asks for the password again before these (its reauthenticate page is opened
    # here); tests/e2e/test_journey.py walks the enrolment.
    "mfa_activate_totp": "behind allauth's reauthentication",
    "mfa_deactivate_totp": "behind allauth's reauthentication",
    "mfa_view_recovery_codes": "behind allauth's reauthentication",
    "mfa_generate_recovery_codes": "behind allauth's reauthentication",
    "openid_connect_login": "redirects to the identity provider",
    "openid_connect_callback": "the identity provider's redirect back",
    "admin:login": "redirects to the portal's sign-in page",
    "admin:logout": "POST only",
    "admin:jsi18n": "JavaScript",
    "admin:autocomplete": "JSON",
    "admin:view_on_site": "redirects to the object's portal page",
    "admin:approvals_accessrequest_decide": "POST only; its form is on the change page",
}
# Pages whose answer is an error status, by design.
EXPECTED_STATUS = {
    "approvals:key_link": 404,  # the neutral page of an unknown or used link
    "socialaccount_login_error": 401,  # allauth's page after a failed SSO sign-in
}
# The admin: its index, one app's index (the same template), the list and change form of each
# of the portal's own models (web/admin/: their columns, fields and read-only rules are the
# portal's). Third-party models' pages (users, sites, allauth, Celery beat and results) are
# Django's generic ones, and so are the add, delete and history pages of every model: one
# sample of each is opened.
PORTAL_APPS = {"vendors", "verification", "audit", "inventory", "keys", "approvals"}
ADMIN_SAMPLE = "vendors_vendor"
THIRD_PARTY_SAMPLE = "admin:auth_user_changelist"
ADMIN_VIEW = re.compile(r"^admin:(?P<label>\w+)_(?P<view>changelist|add|change|delete|history)$")
# allauth's pages render the same for every signed-in person (its layout, the portal's
# header): signed out and as the engineer they are all opened, the second-factor pages also
# as security (who has an authenticator app, so sees its other pages).
ALLAUTH_ROLES = {"signed-out", "engineer"}


def _admin_reason(name: str) -> str | None:
    """Why an admin route is not opened here (None: it is)."""
    if name in NOT_PAGES:
        return NOT_PAGES[name]
    match = ADMIN_VIEW.match(name)
    if match is None:
        return None  # the index, an app's index, a custom admin page: opened
    label, view = match["label"], match["view"]
    if view in ("add", "delete", "history") and label != ADMIN_SAMPLE:
        return "Django's add (the change form, empty), delete and history pages: the sample's"
    if label.split("_")[0] not in PORTAL_APPS and name != THIRD_PARTY_SAMPLE:
        return "a third-party model's list and form: Django's generic ones, the sample's"
    return None


PEOPLE = ("engineer", "security", "auditor")
STATE_CHANGING = WRITE | OWNER_WRITE | SECURITY | EXPORT_OWNER_WRITE | SELF_SERVICE


@dataclass
class Route:
    """A route to open: who tries it, and its URLs (several for a page shown in several
    states), each with a label for the screenshot's name."""

    roles: set[str]
    urls: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Visits:
    """What each role opened, and the violations found on the way."""

    totp_secret: str
    opened: dict[str, set[str]] = field(default_factory=dict)
    answers: dict[str, set[int]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def _page_routes() -> Iterator[tuple[str, str, str]]:
    """(route name, URL pattern, URLconf) of every named route of the URLconf."""
    for name, pattern, urlconf in _routes(get_resolver().url_patterns):
        if name and name != "admin:None":  # the admin's unnamed redirects of old URLs
            yield name, str(pattern.pattern), urlconf


def _admin_kwargs() -> dict[str, dict[str, Any]]:
    """Each admin route's arguments: its app, or the first row of its model."""
    kwargs: dict[str, dict[str, Any]] = {}
    for model in admin.site._registry:
        label = f"{model._meta.app_label}_{model._meta.model_name}"
        first = model._default_manager.order_by("pk").first()
        kwargs[f"admin:{label}_add"] = {}
        if first is not None:
            for view in ("change", "delete", "history"):
                kwargs[f"admin:{label}_{view}"] = {"object_id": first.pk}
    return kwargs


def _iam_user_grant(org: Org) -> AccessRequest:
    """An active IAM-user grant of Orbit CI's, whose key goes to Kim (as fulfilment leaves
    it: tests/factories.py's iam_user_grant, for the vendor `org` has already)."""
    vendor_services.contact_save(
        vendor_id=org.orbit.pk,
        actor=org.engineer,
        data={"name": "Kim", "email": "kim@orbit.example", "receives_access_keys": True},
    )
    saved = request_services.request_save(
        actor=org.engineer,
        data={
            "vendor": org.orbit,
            "strategy": "iam_user",
            "role_name": "OrbitCiUploads",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "Uploads build artefacts.",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    AccessRequest.objects.filter(pk=saved.pk).update(status=AccessRequest.Status.ACTIVE)
    return AccessRequest.objects.get(pk=saved.pk)


@pytest.fixture
def world(org: Org) -> tuple[dict[str, Route], str]:
    """`org` (Erin's vendors and live grants, Sam and Sasha of security, Ari the auditor)
    with one row of every kind a page shows: requests in several states, an IAM-user grant
    with its key, a review in draft, findings, a campaign, an event endpoint, tokens, a PDF
    binder; Sam has an authenticator app. Returns the URL of each page, by route name."""
    sam_secret = generate_totp_secret()
    TOTP.activate(org.security, sam_secret)
    RecoveryCodes.activate(org.security)
    # allauth lets only a verified address enrol a factor: Erin's enrolment page is checked.
    EmailAddress.objects.create(
        user=org.engineer, email=org.engineer.email, verified=True, primary=True
    )
    draft = draft_request(org.engineer, org.evil)
    pending = submitted_request(org.orbit, org.engineer, role_name="OrbitCiPending")
    rejected = submitted_request(org.orbit, org.engineer, role_name="OrbitCiRejected")
    decisions.request_reject(
        request_id=rejected.pk,
        approver=org.security,
        mfa_verified=True,
        comment="Too broad.",
    )
    grant = _iam_user_grant(org)
    AccessKey.objects.create(
        access_request=grant,
        user_name="orbit-ci",
        access_key_id="AKIAEXAMPLEKEY000001",
        status=AccessKey.Status.ACTIVE,
        aws_created_at=timezone.now() - timedelta(days=3),
    )
    draft_review = vendor_services.review_start(vendor_id=org.evil.pk, actor=org.engineer)
    _finding()  # shown on the findings page
    campaign = recertification_services.campaign_start(
        actor=org.security,
        mfa_verified=True,
        name="Q4 re-certification",
        deadline=timezone.localdate() + timedelta(days=14),
    )
    endpoint, _dead_letter = _event_endpoint()
    for owner, scope in ((org.engineer, "read"), (org.auditor, "read")):
        tokens.token_create(
            owner=owner,
            name="CI",
            scope=scope,
            expires_on=timezone.localdate() + timedelta(days=5),
            mfa_verified=False,
        )
    binder = _ready_binder(org.auditor)
    # One row of each model whose admin change form is the portal's own (web/admin/).
    KnownVendorAccount.objects.create(account_id="464622532012", name="Orbit CI's AWS")
    AccountSyncRun.objects.create(
        status=AccountSyncRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    from approvals import rules
    from fulfilment.models import PullRequest

    contact = org.orbit.contacts.get()
    pull = PullRequest.objects.filter(access_request=org.grant, number=1).get()
    one: dict[str, dict[str, Any]] = {
        "vendors:detail": {"pk": org.orbit.pk},
        "vendors:edit": {"pk": org.orbit.pk},
        "vendors:contact_add": {"pk": org.orbit.pk},
        "vendors:contact_edit": {"pk": org.orbit.pk, "contact_id": contact.pk},
        "vendors:review_detail": {"pk": draft_review.pk},
        "vendors:review_edit": {"pk": draft_review.pk},
        "approvals:request_edit": {"pk": draft.pk},
        "approvals:pullrequest_detail": {"number": pull.number},
        "approvals:rules_version": {"pk": rules.active_rule_set().pk},
        "recertification:campaign_detail": {"pk": campaign.pk},
        "events:detail": {"pk": endpoint.pk},
        "reports:export_status": {"export_id": binder.pk},
        "approvals:key_link": {"token": "x" * 43},
        **_admin_kwargs(),
    }
    several = {
        "approvals:request_detail": {
            "draft": draft,
            "submitted": pending,
            "rejected": rejected,
            "active": org.grant,
            "key": grant,
        }
    }
    pages: dict[str, Route] = {}
    for name, pattern, urlconf in _page_routes():
        if name.startswith("admin:"):
            if _admin_reason(name) is not None:
                continue
            roles = {"security"}  # staff with a second factor (test_admin_sign_in.py)
        elif name in NOT_PAGES:
            continue
        elif name.startswith("api:"):
            continue  # the JSON API (tests/api/)
        elif urlconf.startswith("allauth"):
            roles = ALLAUTH_ROLES | ({"security"} if name.startswith("mfa_") else set())
        else:
            roles = {"signed-out", *PEOPLE}
        route = pages[name] = Route(roles)
        if name == "admin:app_list":
            route.urls = [("", reverse(name, kwargs={"app_label": "vendors"}))]
        elif name in several:
            route.urls = [(s, reverse(name, kwargs={"pk": r.pk})) for s, r in several[name].items()]
        elif "<" not in pattern and "(?P" not in pattern:
            route.urls = [("", reverse(name))]
        elif name in one:
            route.urls = [("", reverse(name, kwargs=one[name]))]
        # else no arguments known: no role opens it, which fails the test
    return pages, sam_secret


def _check(page: Page, axe: Axe, shot: str, visits: Visits) -> None:
    """A screenshot and axe's verdict at each width, starting with the current one."""
    current = (page.viewport_size or {"width": 0})["width"]
    for width, height in WIDTHS if current == WIDTHS[0][0] else WIDTHS[::-1]:
        if current != width:
            page.set_viewport_size({"width": width, "height": height})
            # The resize's handlers (static/js/tables.js) run before the next frame.
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
        page.screenshot(path=str(SCREENS / f"{shot}-{width}.png"), full_page=True)
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in BLOCKING_IMPACTS:
                targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
                found = (
                    f"{shot} at {width}px: {violation['id']} ({violation['impact']}) "
                    f"on {targets[:5]}"
                )
                print(found)
                visits.violations.append(found)


def _visit_all(page: Page, base: str, role: str, pages: dict[str, Route], visits: Visits) -> None:
    axe = Axe()
    for name, route in pages.items():
        if role not in route.roles:
            continue
        for variant, url in route.urls:
            # Asked first without the browser (same cookies): a refusal, a redirect, a 405 or
            # a file is no page of this role's; only a page is loaded and checked.
            probe = page.request.get(base + url, max_redirects=0)
            visits.answers.setdefault(name, set()).add(probe.status)
            expected = EXPECTED_STATUS.get(name, 200)
            if probe.status != expected or "text/html" not in probe.headers["content-type"]:
                continue
            response = page.goto(base + url)
            assert response is not None
            assert response.status == expected, (role, url)
            visits.opened.setdefault(name, set()).add(role)
            slug = name.replace(":", "-") + (f"-{variant}" if variant else "")
            _check(page, axe, f"{role}-{slug}", visits)


def _sign_in(page: Page, base: str, username: str, password: str, visits: Visits) -> None:
    """Signs in on the login page, and Sam with his authenticator app: its step is checked
    too (allauth's mfa_authenticate, which only a sign-in reaches)."""
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    if visits.totp_secret and username == "sam":
        expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
        visits.opened.setdefault("mfa_authenticate", set()).add("security")
        _check(page, Axe(), "security-mfa_authenticate", visits)
        page.locator("input[name=code]").fill(totp_code(visits.totp_secret))
        page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()


def test_every_page_passes_axe_at_both_widths(
    browser: Browser, live_server, world, org: Org, password
):
    pages, sam_secret = world
    SCREENS.mkdir(parents=True, exist_ok=True)
    visits = Visits(totp_secret=sam_secret)
    people = {"engineer": org.engineer, "security": org.security, "auditor": org.auditor}
    for role in ("signed-out", *PEOPLE):
        context = browser.new_context(viewport={"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
        page = context.new_page()
        if role in people:
            _sign_in(page, live_server.url, people[role].username, password, visits)
        _visit_all(page, live_server.url, role, pages, visits)
        context.close()

    # A route answering GET with 405 is an action (a form's POST), no page; so is a route the
    # matrix lists as state-changing that no role opened (most have no arguments here); an
    # admin page refusing security (403) is for superusers, no role of the portal's.
    not_opened = [
        f"{name} (answered {sorted(visits.answers.get(name, ()))})"
        for name in pages
        if name not in visits.opened
        and name not in STATE_CHANGING
        and 405 not in visits.answers.get(name, ())
        and not (name.startswith("admin:") and visits.answers.get(name) == {403})
    ]
    assert not_opened == [], (
        "no role opened these pages: give them arguments in `world`, or list them in "
        "NOT_PAGES with the reason:\n" + "\n".join(not_opened)
    )
    assert visits.violations == [], "\n".join(visits.violations)
