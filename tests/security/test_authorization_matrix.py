"""Every URL of the portal against every role.

Each named route must be classified below: a new route fails `test_every_route_is_classified`
until someone decides who may use it. allauth's own pages are public by design; admin pages
are checked model by model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accessportal.roles import Role
from tests.factories import draft_request, force_login_with_mfa, staging_account
from tests.vendors.helpers import pdf_upload, vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db

# The one-time key link is public by design: its 43-character token is the credential.
PUBLIC = {
    "healthz",
    "approvals:webhook_github",
    "approvals:webhook_gitlab",
    "approvals:key_link",
}
READ = {
    "dashboard",
    "vendors:list",
    "vendors:detail",
    "approvals:accounts",
    "approvals:accounts_sync_status",
    "approvals:accounts_count",
    "approvals:requests",
    "reports:access_map",
    # Everyone signed in: security and auditors see every campaign, a vendor's owner those
    # asking about their vendors' grants, anyone else an empty list.
    "recertification:campaigns",
    # Each user's own API tokens (security: everyone's).
    "tokens:list",
}
# Security's and auditors' pages (GET, nothing changes): exports, reports, pull requests.
AUDIT_READ = {
    "reports:index",
    "reports:subprocessors",
    "reports:audit_trail",
    "reports:audit_log",
    "approvals:pullrequests",
    "approvals:pullrequest_detail",
    # Every request, searched and filtered (issue 20); engineers have "My requests".
    "approvals:requests_all",
    # The approval rules and every version of them.
    "approvals:rules",
    "approvals:rules_version",
    # A campaign's evidence, for the auditor's file.
    "recertification:campaign_csv",
    "recertification:campaign_pdf",
}
OWNER_READ = {
    "approvals:request_detail",
    "vendors:review_detail",
    "vendors:evidence_download",
    "approvals:request_progress",
    "approvals:request_key_state",
    "approvals:request_verify_status",
    # A campaign asking about a grant of the owner's vendor.
    "recertification:campaign_detail",
}
# The external-access findings name principals and roles in every account: security only. So
# are the audit event stream's endpoints and dead letters: security's integration with its SIEM.
SECURITY_READ = {
    "verification:findings",
    "verification:scan_status",
    "events:list",
    "events:detail",
}
# A PDF binder's page and file: only whoever asked for it (the auditor in `world`); any other
# reader gets the same 404 as for a binder that never existed.
EXPORT_OWNER_READ = {"reports:export_status", "reports:export_download"}
EXPORT_OWNER_WRITE = {"reports:export_again"}
WRITE = {"vendors:create", "vendors:review_start", "approvals:request_new"}
OWNER_WRITE = {
    "vendors:edit",
    "vendors:contact_add",
    "vendors:contact_edit",
    "vendors:contact_delete",
    "vendors:review_edit",
    "vendors:evidence_upload",
    "vendors:review_detail_add",
    "vendors:review_detail_remove",
    "approvals:request_edit",
    "approvals:request_submit",
    "approvals:request_withdraw",
    "approvals:request_duplicate",
    "approvals:request_extend",
    # The owner's part of a re-certification: the vendor's internal owner only.
    "recertification:owner_answer",
}
SECURITY = {
    "vendors:offboard",
    "vendors:key_recipient_decide",
    "vendors:review_decide",
    "approvals:accounts_sync",
    "approvals:request_approve",
    "approvals:request_reject",
    "approvals:request_revoke",
    "approvals:request_extension_decide",
    "approvals:request_merge_acknowledge",
    "approvals:pullrequest_merge",
    "approvals:request_provision_retry",
    "approvals:request_key_reissue",
    "approvals:request_revoke_retry",
    "approvals:request_commands_done",
    "verification:scan",
    "verification:acknowledge",
    "verification:adopt",
    "approvals:request_verify",
    "approvals:request_emulator_action",
    "vendors:cut_off",
    "approvals:rules_propose",
    "approvals:rules_vote",
    "approvals:rules_withdraw",
    "recertification:campaign_start",
    "recertification:security_answer",
    "events:create",
    "events:active",
    "events:rotate",
    "events:delete",
    "events:redeliver",
}
# What every signed-in user does for themselves, auditors included: making an API token (an
# auditor's is read-only) and revoking one (their own; security: anyone's, with MFA).
SELF_SERVICE = {"tokens:create", "tokens:revoke"}
CLASSIFIED = (
    SELF_SERVICE
    | PUBLIC
    | READ
    | AUDIT_READ
    | OWNER_READ
    | SECURITY_READ
    | EXPORT_OWNER_READ
    | EXPORT_OWNER_WRITE
    | WRITE
    | OWNER_WRITE
    | SECURITY
)


def _routes(
    patterns: list[Any], namespace: str = "", urlconf: str = ""
) -> Iterator[tuple[str, URLPattern, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            ns = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            name = pattern.urlconf_name
            module = name if isinstance(name, str) else getattr(name, "__name__", urlconf)
            yield from _routes(pattern.url_patterns, ns, module or urlconf)
        else:
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
            yield name, pattern, urlconf


def _portal_routes() -> dict[str, URLPattern]:
    routes = {}
    for name, pattern, urlconf in _routes(get_resolver().url_patterns):
        if name.startswith("admin:") or urlconf.startswith("allauth"):
            continue  # admin: checked per model below; allauth: sign-in pages, public
        if name.startswith("api:"):
            continue  # token-authenticated: tests/api/test_authorization_matrix.py
        routes[name] = pattern
    return routes


def test_every_route_is_classified():
    routes = set(_portal_routes())
    assert routes - CLASSIFIED == set(), "classify the new routes in this file"
    assert CLASSIFIED - routes == set(), "remove routes that no longer exist"


@pytest.fixture
def world(make_user):
    """People in each role and one object of each kind, owned by `owner`."""
    people = {
        "owner": make_user("owner"),
        "other": make_user("other"),
        "security": make_user("sec", Role.SECURITY, is_staff=True),
        "auditor": make_user("aud", Role.AUDITORS),
        "superuser": make_user("root", is_staff=True, is_superuser=True),
    }
    owner = people["owner"]
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner))
    contact = vendor_services.contact_save(
        vendor_id=vendor.pk, actor=owner, data={"name": "C", "email": "c@vendor.example"}
    )
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=owner)
    evidence = vendor_services.evidence_add(review_id=review.pk, actor=owner, upload=pdf_upload())
    exception = vendor_services.review_add_detail(
        review_id=review.pk, actor=owner, kind="exception", data={"description": "x"}
    )
    from vendors.models import KeyRecipientChange

    key_change = KeyRecipientChange.objects.create(
        vendor=vendor, contact=contact, email="new@vendor.example", proposed_by=owner
    )
    staging_account()
    access_request = draft_request(owner, vendor)
    kwargs: dict[str, dict[str, Any]] = {
        "vendors:detail": {"pk": vendor.pk},
        "vendors:edit": {"pk": vendor.pk},
        "vendors:offboard": {"pk": vendor.pk},
        "vendors:cut_off": {"pk": vendor.pk},
        "vendors:contact_add": {"pk": vendor.pk},
        "vendors:contact_edit": {"pk": vendor.pk, "contact_id": contact.pk},
        "vendors:contact_delete": {"pk": vendor.pk, "contact_id": contact.pk},
        "vendors:key_recipient_decide": {"pk": vendor.pk, "change_id": key_change.pk},
        "vendors:review_start": {"pk": vendor.pk},
        "vendors:review_detail": {"pk": review.pk},
        "vendors:review_edit": {"pk": review.pk},
        "vendors:review_decide": {"pk": review.pk},
        "vendors:evidence_upload": {"pk": review.pk},
        "vendors:review_detail_add": {"pk": review.pk, "kind": "exception"},
        "vendors:review_detail_remove": {
            "pk": review.pk,
            "kind": "exception",
            "detail_id": exception.pk,
        },
        "vendors:evidence_download": {"pk": evidence.pk},
    }
    for name in _portal_routes():
        if name.startswith("approvals:request_") and name != "approvals:request_new":
            kwargs[name] = {"pk": access_request.pk}
    from fulfilment.models.pullrequests import PullRequest

    pull = PullRequest.objects.create(
        access_request=access_request,
        forge="local",
        number=1,
        branch="vendor-access/req-1-orbit-ci",
        base="main",
        state="open",
        title="t",
    )
    kwargs["approvals:pullrequest_detail"] = {"number": pull.number}
    kwargs["approvals:pullrequest_merge"] = {"number": pull.number}
    kwargs["approvals:key_link"] = {"token": "x" * 43}
    from verification.models import VerificationRun

    run = VerificationRun.objects.create(kind="grants", access_request=access_request)
    kwargs["approvals:request_verify_status"] = {"pk": access_request.pk, "run_id": run.pk}
    kwargs["approvals:request_emulator_action"] = {"pk": access_request.pk, "action": "apply"}
    binder = _ready_binder(people["auditor"])
    kwargs["reports:export_status"] = {"export_id": binder.pk}
    kwargs["reports:export_download"] = {"export_id": binder.pk}
    kwargs["reports:export_again"] = {"export_id": binder.pk}
    from approvals import rules

    in_force = rules.active_rule_set()
    for name in ("approvals:rules_version", "approvals:rules_vote", "approvals:rules_withdraw"):
        kwargs[name] = {"pk": in_force.pk}
    finding = _finding()
    kwargs["verification:acknowledge"] = {"pk": finding.pk}
    kwargs["verification:adopt"] = {"pk": finding.pk}
    item = _certification(access_request)
    for name in ("campaign_detail", "campaign_csv", "campaign_pdf"):
        kwargs[f"recertification:{name}"] = {"pk": item.campaign_id}
    kwargs["recertification:owner_answer"] = {"pk": item.pk}
    kwargs["recertification:security_answer"] = {"pk": item.pk}
    from api import tokens

    owners_token = tokens.token_create(
        owner=owner,
        name="CI",
        scope="read",
        expires_on=timezone.localdate() + timedelta(days=5),
        mfa_verified=False,
    ).token
    kwargs["tokens:revoke"] = {"pk": owners_token.pk}
    endpoint, dead_letter = _event_endpoint()
    for name in ("events:detail", "events:active", "events:rotate", "events:delete"):
        kwargs[name] = {"pk": endpoint.pk}
    kwargs["events:redeliver"] = {"pk": dead_letter.pk}
    urls = {name: reverse(name, kwargs=kwargs.get(name)) for name in _portal_routes()}
    urls["reports:subprocessors"] += "?format=csv"
    urls["reports:audit_trail"] += "?format=jsonl"
    return people, urls


def _finding() -> Any:
    from django.utils import timezone

    from verification.models import ExternalAccessFinding

    now = timezone.now()
    return ExternalAccessFinding.objects.create(
        account_id="111122223333",
        role_name="HandMade",
        principal="arn:aws:iam::464622532012:root",
        principal_account_id="464622532012",
        first_seen_at=now,
        last_seen_at=now,
    )


def _event_endpoint() -> tuple[Any, Any]:
    """An endpoint of the audit event stream, with one dead letter."""
    from eventstream.models import EventDelivery, EventEndpoint, delivery_uuid
    from provisioning.keys import encrypt_secret

    endpoint = EventEndpoint.objects.create(
        name="SIEM",
        url_ciphertext=encrypt_secret("http://127.0.0.1:9/collect"),
        url_origin="http://127.0.0.1:9",
        secret_ciphertext=encrypt_secret("s" * 43),
    )
    dead = EventDelivery.objects.create(
        endpoint=endpoint,
        sequence=1,
        delivery_id=delivery_uuid(endpoint.pk, 1),
        attempts=8,
        status=EventDelivery.Status.DEAD,
        last_error="answered HTTP 500",
    )
    return endpoint, dead


def _certification(access_request: Any) -> Any:
    """A campaign asking about the owner's request (the matrix needs a row, not a live grant)."""
    from django.utils import timezone

    from recertification.models import Campaign, Certification

    campaign = Campaign.objects.create(name="Q4", kind="manual", deadline=timezone.localdate())
    return Certification.objects.create(campaign=campaign, access_request=access_request)


def _ready_binder(auditor: Any) -> Any:
    from django.core.files.base import ContentFile

    from reports.models import ReportExport
    from reports.subprocessors import report_params

    params = report_params()
    binder = ReportExport.objects.create(
        requested_by=auditor,
        as_of=params.as_of,
        period_start=params.period_start,
        status=ReportExport.Status.DONE,
    )
    binder.file.save(f"exports/{binder.pk}.pdf", ContentFile(b"%PDF-1.7 test"))
    return binder


def _method(name: str) -> str:
    posted = WRITE | OWNER_WRITE | SECURITY | EXPORT_OWNER_WRITE | SELF_SERVICE
    return "post" if name in posted else "get"


def test_anonymous_visitors_reach_only_public_routes(client, world):
    _people, urls = world
    for name, url in urls.items():
        response = getattr(client, _method(name))(url)
        if name in PUBLIC:
            # The webhooks take only POST; their protection is their signature, not a login.
            # An unknown key link gets the neutral "not available" page.
            expected = 405 if name.startswith("approvals:webhook_") else 200
            expected = 404 if name == "approvals:key_link" else expected
            assert response.status_code == expected, name
        else:
            assert response.status_code == 302, name
            assert response["Location"].startswith(reverse("account_login")), name


def test_auditors_read_everything_and_write_nothing(client, world):
    people, urls = world
    client.force_login(people["auditor"])
    for name in READ | OWNER_READ | AUDIT_READ | EXPORT_OWNER_READ:
        assert client.get(urls[name]).status_code == 200, name
    # Their own binder asked for again: a new export, and its page.
    assert client.post(urls["reports:export_again"]).status_code == 302
    for name in SECURITY_READ:
        assert client.get(urls[name]).status_code == 403, name
    for name in WRITE | OWNER_WRITE | SECURITY:
        assert client.post(urls[name]).status_code == 403, name
    # Their own read token (an empty form: refused by its rules, not by role); not the
    # owner's token, which only its owner and security revoke.
    assert client.post(urls["tokens:create"]).status_code == 400
    assert client.post(urls["tokens:revoke"]).status_code == 302
    from api.models import ApiToken

    assert ApiToken.objects.get().revoked_at is None


def test_another_requester_cannot_touch_what_is_not_theirs(client, world):
    people, urls = world
    client.force_login(people["other"])
    for name in READ:
        assert client.get(urls[name]).status_code == 200, name
    for name in OWNER_READ | SECURITY_READ | AUDIT_READ | EXPORT_OWNER_READ:
        assert client.get(urls[name]).status_code == 403, name
    for name in OWNER_WRITE | SECURITY | EXPORT_OWNER_WRITE:
        assert client.post(urls[name]).status_code == 403, name


def test_the_owner_reads_their_own_and_is_refused_security_actions(client, world):
    people, urls = world
    client.force_login(people["owner"])
    for name in READ | OWNER_READ:
        assert client.get(urls[name]).status_code == 200, name
    for name in SECURITY_READ | AUDIT_READ | EXPORT_OWNER_READ:
        assert client.get(urls[name]).status_code == 403, name
    for name in SECURITY | EXPORT_OWNER_WRITE:
        assert client.post(urls[name]).status_code == 403, name


def test_security_may_use_security_actions(client, world, settings, tmp_path):
    from demo.substrate_repo import create_bare_repository

    people, urls = world
    # A Substrate repository for the local forge to refuse the merge of a branch it lacks.
    create_bare_repository(tmp_path / "substrate.git", {"README.md": "x\n"}, branch="main")
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")
    force_login_with_mfa(client, people["security"])  # without it: test_security_writes_need_mfa
    for name in sorted(SECURITY_READ | AUDIT_READ):
        assert client.get(urls[name]).status_code == 200, name
    for name in sorted(EXPORT_OWNER_READ):  # the auditor's binder
        assert client.get(urls[name]).status_code == 404, name
    assert client.post(urls["reports:export_again"]).status_code == 404
    for name in sorted(SECURITY):
        status = client.post(urls[name]).status_code
        assert status in (200, 302, 400), (name, status)  # refused by rules, not by role


def test_admin_pages_need_staff(client, world):
    people, _urls = world
    changelists = [
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        for m in admin.site._registry
    ]
    for role in (None, "owner", "auditor"):
        client.logout()
        if role:
            client.force_login(people[role])
        for url in [reverse("admin:index"), *changelists]:
            response = client.get(url)
            assert response.status_code == 302, (role, url)
            assert reverse("admin:login") in response["Location"]
    force_login_with_mfa(client, people["superuser"])
    for url in changelists:
        assert client.get(url).status_code == 200, url
    force_login_with_mfa(client, people["security"])
    assert client.get(reverse("admin:index")).status_code == 200
    for url in changelists:
        assert client.get(url).status_code in (200, 403), url


def test_every_state_changing_route_needs_a_csrf_token(world):
    from django.test import Client

    people, urls = world
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["security"])
    for name in sorted(WRITE | OWNER_WRITE | SECURITY | EXPORT_OWNER_WRITE | SELF_SERVICE):
        response = client.post(urls[name])
        assert response.status_code == 403, name
        assert b"CSRF" in response.content, name
    # Asking for a PDF binder starts a worker's job: a POST, so the same protection.
    client.force_login(people["auditor"])
    response = client.post(reverse("reports:subprocessors"), {"format": "pdf"})
    assert response.status_code == 403
    assert b"CSRF" in response.content


def test_auditors_change_nothing_in_the_admin_whatever_their_account_allows(client, world):
    """Even an auditor given staff status and every permission is refused each admin write:
    saving, adding, deleting and bulk actions."""
    from vendors.models import ChecklistItem, Vendor

    people, _urls = world
    auditor = people["auditor"]
    auditor.is_staff = auditor.is_superuser = True
    auditor.save()
    force_login_with_mfa(client, auditor)
    vendor = Vendor.objects.get()
    item = ChecklistItem.objects.first()
    assert item is not None
    assert client.get(reverse("admin:vendors_vendor_change", args=[vendor.pk])).status_code == 200
    writes = [
        (reverse("admin:vendors_vendor_change", args=[vendor.pk]), {"name": "Renamed"}),
        (reverse("admin:vendors_checklistitem_add"), {"code": "Z9", "text": "x"}),
        (reverse("admin:vendors_checklistitem_delete", args=[item.pk]), {"post": "yes"}),
        (
            reverse("admin:vendors_checklistitem_changelist"),
            {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"},
        ),
        (
            reverse("admin:approvals_accessrequest_decide", args=[1]),
            {"decision": "approve", "comment": "x"},
        ),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code == 403, url
    assert Vendor.objects.get().name == vendor.name
    assert ChecklistItem.objects.filter(pk=item.pk).exists()
    assert not ChecklistItem.objects.filter(code="Z9").exists()
    # Signing out of the admin stays possible.
    assert client.post(reverse("admin:logout")).status_code == 200
