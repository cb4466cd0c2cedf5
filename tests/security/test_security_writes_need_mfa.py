"""Every security write needs an MFA-verified session, whatever the route (issue 15).

The state-changing routes come from the URLconf, through the classification of
test_authorization_matrix.py (which fails on a route nobody classified): each one is either a
security write, with a scenario here that makes it succeed, or an action security members take
as requesters, listed with the reason. For each security write, a security member who did not
sign in with a second factor is refused and nothing in the database changes; the same member
with the second factor, on the same state, changes it. Every admin URL is refused the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals.models import AccessRequest
from fulfilment import revocation
from fulfilment.models import PullRequest
from tests.factories import draft_request, force_login_with_mfa, iam_user_grant, staging_account
from tests.security.test_authorization_matrix import (
    EXPORT_OWNER_WRITE,
    OWNER_WRITE,
    SECURITY,
    WRITE,
    _portal_routes,
)
from tests.vendors.helpers import complete_review, pdf_upload, vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db

STATE_CHANGING = WRITE | OWNER_WRITE | SECURITY | EXPORT_OWNER_WRITE

# Routes a security member uses as anyone else does, for what is their own: no security right
# is involved, so no second factor either.
AS_REQUESTER = {
    # Any writer registers a vendor, starts a review of one, or files a request.
    "vendors:create": "any writer",
    "vendors:review_start": "any writer",
    "approvals:request_new": "any writer",
    # Only the requester edits, submits, withdraws or extends their request (services refuse
    # security too); a duplicate is a new draft of one's own.
    "approvals:request_edit": "the requester only",
    "approvals:request_submit": "the requester only",
    "approvals:request_withdraw": "the requester only",
    "approvals:request_extend": "the requester only",
    "approvals:request_duplicate": "a new draft of one's own",
    # A PDF binder asked again: only by whoever asked for it.
    "reports:export_again": "the export's owner only",
    # The owner's part of a re-certification: only the vendor's internal owner answers it.
    "recertification:owner_answer": "the vendor's internal owner only",
}


@dataclass
class Post:
    """One POST of a scenario: its URL and a function giving fresh data for each attempt."""

    url: str
    data: Callable[[], dict[str, Any]] = dict
    # The change is refused by a rule after the MFA check (the local forge has no such branch
    # to merge): with the second factor the answer must come from that rule, not the MFA check.
    rules_refuse: bool = False
    # What the change answers with the second factor: a redirect, or the page itself when it
    # shows something once (a new event endpoint's signing secret).
    answers: int = 302


@dataclass
class People:
    owner: Any
    security: Any
    security2: Any


def _form_data(form: Any) -> dict[str, Any]:
    """What a browser posts for `form` as it is shown (unbound: its initial values)."""
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if isinstance(bound.field, forms.JSONField):
            data[bound.html_name] = bound.field.prepare_value(value)
        elif isinstance(value, bool):
            if value:
                data[bound.html_name] = "on"
        elif value is None:
            data[bound.html_name] = ""
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(v) for v in value]
        elif isinstance(value, date | datetime):
            data[bound.html_name] = value.isoformat()
        else:
            data[bound.html_name] = str(value)
    return data


def _vendor(people: People, slug: str = "orbit-ci") -> Any:
    owner = people.owner
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner, slug=slug))
    vendor_services.contact_save(
        vendor_id=vendor.pk, actor=owner, data={"name": "C", "email": "c@vendor.example"}
    )
    return vendor


def _draft_review(people: People) -> Any:
    vendor = _vendor(people)
    return vendor_services.review_start(vendor_id=vendor.pk, actor=people.owner)


def _submitted_review(people: People) -> Any:
    review = _draft_review(people)
    complete_review(review, people.owner)
    return vendor_services.review_submit(review_id=review.pk, actor=people.owner)


def _reviewed_vendor(people: People) -> Any:
    review = _submitted_review(people)
    vendor_services.review_decide(
        review_id=review.pk, actor=people.security2, decision="approved", mfa_verified=True
    )
    staging_account()
    return review.vendor


def _submitted_request(people: People) -> AccessRequest:
    from approvals import requests as request_services

    draft = draft_request(people.owner, _reviewed_vendor(people))
    return request_services.request_submit(request_id=draft.pk, actor=people.owner)


def _request_in(people: People, status: str, **fields: Any) -> AccessRequest:
    draft = draft_request(people.owner, _reviewed_vendor(people))
    AccessRequest.objects.filter(pk=draft.pk).update(status=status, **fields)
    return draft


def _pull_request(access_request: AccessRequest, **fields: Any) -> PullRequest:
    return PullRequest.objects.create(
        access_request=access_request,
        forge="local",
        number=1,
        branch="vendor-access/req-1-orbit-ci",
        base="main",
        title="t",
        **fields,
    )


def _edit_vendor(people: People) -> Post:
    from vendors.forms import VendorForm

    vendor = _vendor(people)
    data = _form_data(VendorForm(instance=vendor, user=people.security))
    data.update(purpose="Builds our code, and now deploys it.")
    return Post(reverse("vendors:edit", kwargs={"pk": vendor.pk}), lambda: data)


def _override_tier(people: People) -> Post:
    """The tier override, as security, on a vendor security owns (so only the override is a
    security right here)."""
    from vendors.forms import VendorForm

    people.owner = people.security
    vendor = _vendor(people)
    data = _form_data(VendorForm(instance=vendor, user=people.security))
    data.update(tier_override="critical", tier_override_reason="Holds our signing keys.")
    return Post(reverse("vendors:edit", kwargs={"pk": vendor.pk}), lambda: data)


def _contact_url(name: str, people: People) -> Post:
    vendor = _vendor(people)
    contact = vendor.contacts.get()
    fields = {"name": "Kim", "email": "kim@vendor.example", "role": "Security"}
    if name == "vendors:contact_add":
        return Post(reverse(name, kwargs={"pk": vendor.pk}), lambda: fields)
    url = reverse(name, kwargs={"pk": vendor.pk, "contact_id": contact.pk})
    return Post(url, (lambda: fields) if name == "vendors:contact_edit" else dict)


def _edit_review(people: People) -> Post:
    from vendors.forms import ChecklistAnswersForm, ReviewReportForm

    review = _draft_review(people)
    answers = list(review.answers.all())
    data = {
        **_form_data(ReviewReportForm(instance=review, prefix="report")),
        **_form_data(ChecklistAnswersForm(answers=answers, prefix="checklist")),
    }
    data[f"checklist-note_{answers[0].pk}"] = "Checked by security."
    return Post(reverse("vendors:review_edit", kwargs={"pk": review.pk}), lambda: data)


def _review_detail_add(people: People) -> Post:
    review = _draft_review(people)
    url = reverse("vendors:review_detail_add", kwargs={"pk": review.pk, "kind": "exception"})
    return Post(url, lambda: {"exception-description": "A finding.", "exception-relevant": "on"})


def _review_detail_remove(people: People) -> Post:
    review = _draft_review(people)
    exception = vendor_services.review_add_detail(
        review_id=review.pk, actor=people.owner, kind="exception", data={"description": "x"}
    )
    kwargs = {"pk": review.pk, "kind": "exception", "detail_id": exception.pk}
    return Post(reverse("vendors:review_detail_remove", kwargs=kwargs))


def _evidence_upload(people: People) -> Post:
    review = _draft_review(people)
    url = reverse("vendors:evidence_upload", kwargs={"pk": review.pk})
    return Post(url, lambda: {"file": pdf_upload(), "answer": ""})


def _review_decide(people: People) -> Post:
    review = _submitted_review(people)
    url = reverse("vendors:review_decide", kwargs={"pk": review.pk})
    return Post(url, lambda: {"decision": "rejected", "comment": "The bridge letter is missing."})


def _offboard(people: People) -> Post:
    return Post(reverse("vendors:offboard", kwargs={"pk": _vendor(people).pk}))


def _request_route(name: str, make: Callable[[People], AccessRequest], **data: str) -> Any:
    def scenario(people: People) -> Post:
        return Post(reverse(name, kwargs={"pk": make(people).pk}), lambda: dict(data))

    return scenario


def _extension_waiting(people: People) -> AccessRequest:
    until = timezone.localdate() + timedelta(days=20)
    return _request_in(people, "active", extension_until=until, extension_reason="More time.")


def _revocation_failed(people: People) -> AccessRequest:
    access_request = _request_in(people, "revoked")
    _pull_request(access_request, purpose="revoke", state="failed")
    return access_request


def _commands_done(people: People) -> Post:
    access_request = _request_in(people, "active")
    row = _pull_request(access_request, state="merged", commands=["substrate account update"])
    url = reverse("approvals:request_commands_done", kwargs={"pk": access_request.pk})
    return Post(url, lambda: {"pr": str(row.pk)})


def _merge(people: People) -> Post:
    row = _pull_request(_request_in(people, "pr_open"), state="open")
    url = reverse("approvals:pullrequest_merge", kwargs={"number": row.number})
    return Post(url, rules_refuse=True)


def _key_reissue(people: People) -> Post:
    grant = iam_user_grant(people.owner)
    return Post(reverse("approvals:request_key_reissue", kwargs={"pk": grant.pk}))


def _key_recipient_decide(people: People) -> Post:
    """The owner moves the key contact's address: security confirms the held change."""
    vendor = _vendor(people)
    contact = vendor.contacts.get()
    fields = {"name": contact.name, "email": contact.email, "receives_access_keys": True}
    vendor_services.contact_save(
        vendor_id=vendor.pk, actor=people.owner, contact_id=contact.pk, data=fields
    )
    vendor_services.contact_save(
        vendor_id=vendor.pk,
        actor=people.owner,
        contact_id=contact.pk,
        data={**fields, "email": "moved@vendor.example"},
    )
    change = vendor.key_recipient_changes.get(status="pending")
    url = reverse("vendors:key_recipient_decide", kwargs={"pk": vendor.pk, "change_id": change.pk})
    return Post(url, lambda: {"decision": "confirm"})


def _merge_acknowledge(people: People) -> Post:
    """A grant merged with a head nobody approved: security says it reviewed the merge."""
    access_request = _request_in(people, "merge_mismatch")
    _pull_request(access_request, state="merged", approved_sha="a" * 40, merged_head_sha="b" * 40)
    url = reverse("approvals:request_merge_acknowledge", kwargs={"pk": access_request.pk})
    return Post(url, lambda: {"comment": "The extra commit only reformats the policy."})


def _finding(people: People) -> Any:
    """A hand-made trust of a vendor's account in a service account, found by the scan."""
    from inventory.models import AwsAccount
    from verification.models import ExternalAccessFinding

    AwsAccount.objects.get_or_create(
        account_id="111122223333",
        defaults={
            "name": "payments-staging",
            "account_type": "service",
            "domain": "payments",
            "environment": "staging",
            "quality": "alpha",
            "status": "active",
        },
    )
    now = timezone.now()
    return ExternalAccessFinding.objects.create(
        account_id="111122223333",
        role_name="HandMade",
        principal="arn:aws:iam::464622532012:root",
        principal_account_id="464622532012",
        first_seen_at=now,
        last_seen_at=now,
    )


def _finding_acknowledge(people: People) -> Post:
    url = reverse("verification:acknowledge", kwargs={"pk": _finding(people).pk})
    return Post(url, lambda: {"reason": "Monitoring we set up before the portal."})


def _finding_adopt(people: People) -> Post:
    vendor = _vendor(people)
    url = reverse("verification:adopt", kwargs={"pk": _finding(people).pk})
    return Post(url, lambda: {"vendor": str(vendor.pk)})


def _verify_now(people: People) -> Post:
    """Verify in AWS now: the run is queued (the test AWS answers nothing; still a run)."""
    access_request = _request_in(people, "active")
    _pull_request(access_request, state="merged")
    return Post(reverse("approvals:request_verify", kwargs={"pk": access_request.pk}))


def _emulator_action(people: People) -> Post:
    """The demo's "apply the removal" on a live grant: refused by its rule after the MFA check
    (nothing of AWS is touched)."""
    access_request = _request_in(people, "active")
    _pull_request(access_request, state="merged")
    url = reverse(
        "approvals:request_emulator_action", kwargs={"pk": access_request.pk, "action": "remove"}
    )
    return Post(url, rules_refuse=True)


def _cut_off(people: People) -> Post:
    """The emergency cut-off: refused after the MFA check while no break-glass role is set."""
    url = reverse("vendors:cut_off", kwargs={"pk": _vendor(people).pk})
    return Post(url, lambda: {"reason": "Vendor breach.", "confirm": "yes"}, rules_refuse=True)


def _rule_change_data() -> dict[str, Any]:
    """The rules form: the default rule kept, and two leads for Administrator added."""
    return {
        "rules-TOTAL_FORMS": "2",
        "rules-INITIAL_FORMS": "1",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "50",
        "rules-0-name": "Security team",
        "rules-0-approver_group": "security",
        "rules-1-name": "Administrator",
        "rules-1-approver_group": "security-leads",
        "rules-1-quorum": "2",
        "rules-1-strategies": "administrator",
        "reason": "Leads decide Administrator.",
    }


def _rules_proposal(by: Any) -> Any:
    from django.contrib.auth.models import Group

    from approvals import rules

    Group.objects.get_or_create(name="security-leads")
    data = _rule_change_data()
    return rules.rules_propose(
        actor=by,
        mfa_verified=True,
        rules=[
            {"name": "Security team", "approver_group": "security"},
            {
                "name": "Administrator",
                "approver_group": "security-leads",
                "quorum": 2,
                "strategies": ["administrator"],
            },
        ],
        reason=data["reason"],
    )


def _rules_propose(people: People) -> Post:
    from django.contrib.auth.models import Group

    from approvals import rules

    Group.objects.get_or_create(name="security-leads")
    rules.active_rule_set()  # the defaults, saved on first use
    return Post(reverse("approvals:rules_propose"), _rule_change_data)


def _rules_vote(people: People) -> Post:
    """Approving another member's change of the approval rules."""
    proposal = _rules_proposal(people.security2)
    url = reverse("approvals:rules_vote", kwargs={"pk": proposal.pk})
    return Post(url, lambda: {"decision": "approve"})


def _rules_withdraw(people: People) -> Post:
    proposal = _rules_proposal(people.security)
    return Post(reverse("approvals:rules_withdraw", kwargs={"pk": proposal.pk}))


def _campaign_start(people: People) -> Post:
    """Security starts a re-certification campaign over the live grants."""
    _request_in(people, "active")
    deadline = (timezone.localdate() + timedelta(days=7)).isoformat()
    data = {"name": "Q4 review", "deadline": deadline, "vendor": "", "tier": ""}
    return Post(reverse("recertification:campaign_start"), lambda: data)


def _security_answer(people: People) -> Post:
    """The owner said keep; security's keep re-certifies the grant."""
    from recertification.models import Campaign, Certification

    access_request = _request_in(people, "active")
    campaign = Campaign.objects.create(
        name="Q4", kind="manual", deadline=timezone.localdate() + timedelta(days=7)
    )
    item = Certification.objects.create(
        campaign=campaign,
        access_request=access_request,
        owner_decision="keep",
        owner_by=people.owner,
        owner_at=timezone.now(),
        owner_note="Still needed.",
    )
    url = reverse("recertification:security_answer", kwargs={"pk": item.pk})
    return Post(url, lambda: {"decision": "keep", "note": "Scope still least privilege."})


def _event_endpoint(people: People) -> Any:
    from eventstream import services as events

    return events.endpoint_create(
        actor=people.security2, mfa_verified=True, name="SIEM", url="https://siem.example.com/c"
    ).endpoint


def _events_create(people: People) -> Post:
    data = {"name": "SIEM", "url": "https://siem.example.com/collect"}
    return Post(reverse("events:create"), lambda: data, answers=200)


def _events_pause(people: People) -> Post:
    url = reverse("events:active", kwargs={"pk": _event_endpoint(people).pk})
    return Post(url, lambda: {"active": "0"})


def _events_rotate(people: People) -> Post:
    url = reverse("events:rotate", kwargs={"pk": _event_endpoint(people).pk})
    return Post(url, answers=200)  # the new secret, shown once


def _events_delete(people: People) -> Post:
    return Post(reverse("events:delete", kwargs={"pk": _event_endpoint(people).pk}))


def _events_redeliver(people: People) -> Post:
    from eventstream.models import EventDelivery, delivery_uuid

    endpoint = _event_endpoint(people)
    dead = EventDelivery.objects.create(
        endpoint=endpoint,
        sequence=endpoint.delivered_through,
        delivery_id=delivery_uuid(endpoint.pk, endpoint.delivered_through),
        attempts=8,
        status=EventDelivery.Status.DEAD,
    )
    return Post(reverse("events:redeliver", kwargs={"pk": dead.pk}))


SECURITY_WRITES: dict[str, Callable[[People], Post]] = {
    "vendors:key_recipient_decide": _key_recipient_decide,
    "approvals:request_merge_acknowledge": _merge_acknowledge,
    "vendors:edit": _edit_vendor,
    "vendors:offboard": _offboard,
    "vendors:contact_add": lambda p: _contact_url("vendors:contact_add", p),
    "vendors:contact_edit": lambda p: _contact_url("vendors:contact_edit", p),
    "vendors:contact_delete": lambda p: _contact_url("vendors:contact_delete", p),
    "vendors:review_edit": _edit_review,
    "vendors:review_decide": _review_decide,
    "vendors:evidence_upload": _evidence_upload,
    "vendors:review_detail_add": _review_detail_add,
    "vendors:review_detail_remove": _review_detail_remove,
    "approvals:accounts_sync": lambda p: Post(reverse("approvals:accounts_sync")),
    "approvals:request_approve": _request_route("approvals:request_approve", _submitted_request),
    "approvals:request_reject": _request_route(
        "approvals:request_reject", _submitted_request, comment="Too broad."
    ),
    "approvals:request_revoke": _request_route(
        "approvals:request_revoke", lambda p: _request_in(p, "active"), comment="Contract ended."
    ),
    "approvals:request_extension_decide": _request_route(
        "approvals:request_extension_decide", _extension_waiting, decision="grant"
    ),
    "approvals:pullrequest_merge": _merge,
    "approvals:request_provision_retry": _request_route(
        "approvals:request_provision_retry", lambda p: _request_in(p, "failed")
    ),
    "approvals:request_key_reissue": _key_reissue,
    "approvals:request_revoke_retry": _request_route(
        "approvals:request_revoke_retry", _revocation_failed
    ),
    "approvals:request_commands_done": _commands_done,
    "verification:scan": lambda p: Post(reverse("verification:scan")),
    "verification:acknowledge": _finding_acknowledge,
    "verification:adopt": _finding_adopt,
    "approvals:request_verify": _verify_now,
    "approvals:request_emulator_action": _emulator_action,
    "vendors:cut_off": _cut_off,
    "approvals:rules_propose": _rules_propose,
    "approvals:rules_vote": _rules_vote,
    "approvals:rules_withdraw": _rules_withdraw,
    "recertification:campaign_start": _campaign_start,
    "recertification:security_answer": _security_answer,
    "events:create": _events_create,
    "events:active": _events_pause,
    "events:rotate": _events_rotate,
    "events:delete": _events_delete,
    "events:redeliver": _events_redeliver,
}
# Not a route of its own: the tier override is a security write inside the vendor's edit.
EXTRA_SCENARIOS: dict[str, Callable[[People], Post]] = {"tier override": _override_tier}


def test_every_state_changing_route_is_a_security_write_or_says_why():
    routes = set(_portal_routes())
    state_changing = STATE_CHANGING & routes
    assert set(SECURITY_WRITES) | set(AS_REQUESTER) == state_changing, (
        "a state-changing route needs a scenario in SECURITY_WRITES or a reason in AS_REQUESTER"
    )
    assert not set(SECURITY_WRITES) & set(AS_REQUESTER)
    assert set(SECURITY_WRITES) >= SECURITY, "every security-only route is a security write"


def _database_state() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the portal's own tables (sessions left out: signing in writes them)."""
    state = {}
    for model in apps.get_models():
        if model._meta.app_label in {
            "audit",
            "vendors",
            "inventory",
            "approvals",
            "fulfilment",
            "keys",
            "reports",
            "verification",
            "recertification",
            "eventstream",
            "mfa",
            "auth",
        }:
            rows = model._default_manager.order_by("pk").values_list()
            state[model._meta.label] = list(rows)
    state.pop("auth.User", None)  # last_login changes on each sign-in
    return state


def _said(response: Any) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


@pytest.fixture(autouse=True)
def _substrate_repository(settings, tmp_path):
    """A Substrate repository for the local forge to refuse the scenario's merge from."""
    from demo.substrate_repo import create_bare_repository

    create_bare_repository(tmp_path / "substrate.git", {"README.md": "x\n"}, branch="main")
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")


@pytest.fixture
def people(make_user) -> People:
    return People(
        owner=make_user("owner"),
        security=make_user("sec", Role.SECURITY, is_staff=True),
        security2=make_user("sec2", Role.SECURITY, is_staff=True),
    )


@pytest.mark.parametrize("name", sorted(SECURITY_WRITES) + sorted(EXTRA_SCENARIOS))
def test_a_security_write_needs_the_second_factor(client, people, name):
    post = {**SECURITY_WRITES, **EXTRA_SCENARIOS}[name](people)
    before = _database_state()

    client.force_login(people.security)  # signed in with a password only
    response = client.post(post.url, post.data())
    refused = response.status_code == 403 or "second factor" in _said(response)
    assert refused, (name, response.status_code, _said(response))
    assert _database_state() == before, f"{name} changed something without a second factor"

    client = Client()  # the refusal's message is not carried over
    force_login_with_mfa(client, people.security)
    response = client.post(post.url, post.data())
    assert response.status_code != 403, name
    assert "second factor" not in _said(response), name
    if post.rules_refuse:
        assert _said(response), name  # a rule's refusal, shown to the member
    else:
        assert response.status_code == post.answers, (name, response.status_code, _said(response))
        assert _database_state() != before, f"{name} changed nothing with a second factor"


def _admin_urls() -> Iterator[str]:
    """Every admin URL the URLconf has, its arguments filled with 1."""

    def walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    for route in walk(admin.site.get_urls()):
        if "(?P" in route or route.startswith("^"):
            continue  # regular-expression routes: the catch-all and the view-on-site redirect
        yield "/admin/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)


def test_no_admin_url_accepts_a_write_without_the_second_factor(client, people):
    """Derived from the admin's URLconf: a security member signed in with a password only is
    sent to sign in again from every admin URL, saving, adding, deleting and actions alike."""
    vendor = _vendor(people)
    people.owner.is_staff = people.owner.is_superuser = True
    people.owner.save()
    before = _database_state()
    urls = sorted(set(_admin_urls()))
    assert reverse("admin:approvals_accessrequest_decide", args=[1]) in urls
    for user in (people.security, people.owner):  # a superuser without the second factor too
        client.force_login(user)
        for url in urls:
            if url == reverse("admin:logout"):
                continue
            response = client.post(url, {"name": "Renamed", "action": "delete_selected"})
            assert response.status_code == 302, url
            # The admin's login itself sends a signed-in person to the MFA step.
            expected = reverse("mfa_index" if url == reverse("admin:login") else "admin:login")
            assert response["Location"].startswith(expected), url
    assert _database_state() == before
    # With the second factor the admin's own writes go through the services, and succeed.
    force_login_with_mfa(client, people.security)
    from vendors.models import ChecklistItem

    item = {"code": "Z9", "section": ChecklistItem.Section.values[0], "order": "0", "text": "x"}
    item.update(blocking_tiers="[]", active="on")
    response = client.post(reverse("admin:vendors_checklistitem_add"), item)
    assert response.status_code == 302
    assert ChecklistItem.objects.filter(code="Z9").exists()
    from django.test import RequestFactory

    from vendors.models import Vendor

    request = RequestFactory().get("/")
    request.user = people.security
    admin_form = admin.site._registry[Vendor].get_form(request, vendor)
    data = _form_data(admin_form(instance=vendor))
    data.update(tier_override="critical", tier_override_reason="Holds our signing keys.")
    data.update({"contacts-TOTAL_FORMS": "0", "contacts-INITIAL_FORMS": "0"})
    response = client.post(reverse("admin:vendors_vendor_change", args=[vendor.pk]), data)
    assert response.status_code == 302, re.findall(
        r"errorlist.{0,300}|errornote.{0,300}", response.content.decode(), re.S
    )
    vendor.refresh_from_db()
    assert vendor.tier_override == "critical"


def test_the_services_refuse_security_without_the_second_factor(people):
    """The rule lives in the services: the admin's checklist and a shell call are refused."""
    from vendors.models import ChecklistItem

    item = ChecklistItem(code="Z9", text="x")
    with pytest.raises(PermissionDenied, match="second factor"):
        vendor_services.checklist_item_save(item=item, actor=people.security, mfa_verified=False)
    vendor = _vendor(people)
    with pytest.raises(PermissionDenied, match="second factor"):
        revocation.vendor_offboard(vendor_id=vendor.pk, actor=people.security, mfa_verified=False)
    with pytest.raises(PermissionDenied, match="second factor"):
        vendor_services.contact_delete(
            contact_id=vendor.contacts.get().pk, actor=people.security, mfa_verified=False
        )
    # The vendor's owner needs no security right for their own contacts.
    vendor_services.contact_delete(contact_id=vendor.contacts.get().pk, actor=people.owner)
    assert not ChecklistItem.objects.filter(code="Z9").exists()
