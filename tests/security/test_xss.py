"""Stored and reflected XSS: every text field of every form, rendered back everywhere.

Each text field (any `CharField` of the portal's forms, found by walking the form classes, so
a new field is covered without editing this file) is submitted through HTTP with a payload
carrying its own tag. Where validation refuses it, the field gets a valid value and the
refusal is recorded, and the page showing the error is checked too. Then every page that can
show the stored values (the portal's pages, the admin's list and change pages, the HTML part
of the notification e-mails) must contain each accepted payload only escaped, and must show
every accepted payload at least once (so a field rendered nowhere, or lost, is noticed).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from accessportal.effects import NOTICE_EMAIL_TASK
from accessportal.roles import Role
from approvals import decisions
from approvals import requests as request_services
from approvals.forms import AccessRequestForm
from approvals.models import AccessRequest
from fulfilment import revocation
from tests.factories import force_login_with_mfa, staging_account
from tests.vendors.helpers import PDF, complete_review
from vendors import forms as vendor_forms
from vendors.models import SubprocessorReview, Vendor

pytestmark = pytest.mark.django_db

# A raw occurrence of any of these means a payload reached the page unescaped.
UNESCAPED = re.compile(r"<script>alert\(|<img src=x|<svg[ /]onload", re.IGNORECASE)


def payload(tag: str) -> str:
    return f"<script>alert({tag})</script>\"'><img src=x onerror=alert({tag})>"


def short_payload(tag: str) -> str:
    """For fields too short for the full payload (a name of at most 40 characters, say)."""
    return f'"><svg onload={tag}>'


def text_fields(form: forms.BaseForm) -> list[str]:
    """The names (with the form's prefix) of the fields that take free text."""
    return [
        form.add_prefix(name)
        for name, f in form.fields.items()
        if isinstance(f, forms.CharField) and not f.disabled
    ]


@dataclass
class Ledger:
    """What happened to each tagged field, and every response to scan."""

    tags: dict[str, str] = field(default_factory=dict)  # tag -> "Form.field"
    refused: dict[str, str] = field(default_factory=dict)  # "Form.field" -> message
    pages: dict[str, str] = field(default_factory=dict)  # where -> HTML

    def tag(self, where: str) -> str:
        tag = f"xs{len(self.tags):03d}s"
        self.tags[tag] = where
        return tag

    def page(self, where: str, response: Any) -> None:
        self.pages[where] = response.content.decode()


def submit(
    client: Any,
    ledger: Ledger,
    url: str,
    form: forms.BaseForm,
    valid: dict[str, Any],
    *,
    context: str = "form",
    extra: dict[str, Any] | None = None,
    check: Callable[[dict[str, Any]], dict[str, list[str]]] | None = None,
) -> Any:
    """POSTs `valid` with a payload in every text field; refused fields fall back to valid data.

    Errors come from the re-rendered page's form (`context`) or, for views that redirect
    whatever happens, from `check` (the form class validating the same data).
    """
    name = type(form).__name__
    data = dict(valid)
    tags: dict[str, str] = {}
    state: dict[str, str] = {}  # full payload, then the short one, then a valid value
    for key in text_fields(form):
        tags[key] = ledger.tag(f"{name}.{key}")
        data[key], state[key] = payload(tags[key]), "full"
    errors: dict[str, list[str]] = {}
    for _attempt in range(6):
        errors = check(data) if check else {}
        if not errors:
            response = client.post(url, {**data, **(extra or {})})
            ledger.page(f"POST {url} ({name}), attempt {_attempt}", response)
            if response.status_code == 302:
                return response
            shown = response.context[context]
            errors = {
                k if k == "__all__" else shown.add_prefix(k): [str(m) for m in v]
                for k, v in shown.errors.items()
            }
        for key, messages in list(errors.items()):
            # An error shown on another field (other ARNs are checked with the picked ones)
            # belongs to the field whose payload it quotes.
            for quoted in (k for k, t in tags.items() if k != key and t in " ".join(messages)):
                errors[quoted] = [*errors.get(quoted, []), *messages]
        progressed = False
        for key, messages in errors.items():
            if key not in tags or state[key] == "valid":
                continue
            if state[key] == "full" and any("at most" in m for m in messages):
                data[key], state[key] = short_payload(tags[key]), "short"
            else:
                data[key], state[key] = valid.get(key, ""), "valid"
                ledger.refused[f"{name}.{key}"] = " ".join(messages)
            progressed = True
        assert progressed, (name, errors)
    raise AssertionError(f"{name} never accepted the fallback values: {errors}")


def form_errors(form_class: Any, **kwargs: Any) -> Callable[[dict[str, Any]], dict[str, list]]:
    """The errors `form_class` finds in the data, keyed by HTML field name."""

    def check(data: dict[str, Any]) -> dict[str, list]:
        bound = form_class(data, **kwargs)
        if bound.is_valid():
            return {}
        return {bound.add_prefix(k) if k != "__all__" else k: v for k, v in bound.errors.items()}

    return check


def notice_callbacks_only(callbacks: list[Callable[[], None]]) -> None:
    """Runs the e-mail notices scheduled on commit, not provisioning (no repository here)."""
    for callback in callbacks:
        args = getattr(callback, "args", ())
        if args and args[0] == NOTICE_EMAIL_TASK:
            callback()


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    """Password hashing is not under test here, and each of many sign-ins would pay for it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(make_user) -> dict[str, Any]:
    return {
        "owner": make_user("erin"),
        "security": make_user("sam", Role.SECURITY, is_staff=True, is_superuser=True),
        "reviewer": make_user("rita", Role.SECURITY, is_staff=True),
    }


def _vendor_and_review(client: Any, ledger: Ledger, people: dict[str, Any]) -> Vendor:
    owner, security = people["owner"], people["security"]
    force_login_with_mfa(client, owner)
    vendor_valid = {
        "name": "Orbit CI",
        "slug": "orbit-ci",
        "service": "Hosted CI/CD",
        "purpose": "Builds our code.",
        "internal_owner": owner.pk,
        "data_sensitivity": "confidential",
        "access_level": "write",
        "criticality": "high",
        "data_categories": ["source_code"],
    }
    form = vendor_forms.VendorForm(user=owner)
    submit(client, ledger, reverse("vendors:create"), form, vendor_valid)
    vendor = Vendor.objects.get(slug="orbit-ci")

    # The tier override and its reason: only the security team's form has them.
    force_login_with_mfa(client, security)
    form = vendor_forms.VendorForm(instance=vendor, user=security)
    edit_valid = {
        **vendor_valid,
        **{k: getattr(vendor, k) for k in text_fields(form) if k != "slug"},
        "tier_override": "critical",
    }
    edit_valid.pop("slug")
    # The engineer's form above tagged the other fields: tag only those security alone has.
    engineers = set(text_fields(vendor_forms.VendorForm(user=owner)))
    form.fields = {k: v for k, v in form.fields.items() if k not in engineers}
    submit(client, ledger, reverse("vendors:edit", kwargs={"pk": vendor.pk}), form, edit_valid)

    force_login_with_mfa(client, owner)
    submit(
        client,
        ledger,
        reverse("vendors:contact_add", kwargs={"pk": vendor.pk}),
        vendor_forms.ContactForm(),
        {"name": "Casey", "email": "casey@vendor.example", "role": "CTO"},
    )

    client.post(reverse("vendors:review_start", kwargs={"pk": vendor.pk}))
    review = SubprocessorReview.objects.get(vendor=vendor)
    complete_review(review, owner)
    tag = ledger.tag("EvidenceForm.file (name)")
    upload = SimpleUploadedFile(f"{short_payload(tag)}.pdf", PDF, content_type="application/pdf")
    ledger.page(
        "evidence upload",
        client.post(reverse("vendors:evidence_upload", kwargs={"pk": review.pk}), {"file": upload}),
    )
    details = {
        "exception": {
            "description": "d",
            "vendor_response": "r",
            "relevant": "on",
            "disposition": "accepted",
        },
        "cuec": {"description": "d", "mapped_control": "c", "owner": "o"},
        "subservice": {"name": "AWS", "service": "hosting", "method": "carve_out"},
    }
    for kind, detail in details.items():
        form_class = vendor_forms.DETAIL_FORMS[kind]
        bound = form_class()
        submit(
            client,
            ledger,
            reverse("vendors:review_detail_add", kwargs={"pk": review.pk, "kind": kind}),
            bound,
            {bound.add_prefix(k): v for k, v in detail.items()},
            check=form_errors(form_class),
        )

    answers = list(review.answers.all())
    report = vendor_forms.ReviewReportForm(instance=review, prefix="report")
    checklist = vendor_forms.ChecklistAnswersForm(answers=answers, prefix="checklist")
    end = timezone.localdate() - timedelta(days=60)
    valid = {
        "report-report_type": "soc2_type2",
        "report-scope_covers_service": "true",
        "report-trust_services_categories": ["security"],
        "report-period_start": (end - timedelta(days=365)).isoformat(),
        "report-period_end": end.isoformat(),
        "report-report_issued_on": (end + timedelta(days=30)).isoformat(),
        "report-auditor_firm": "Example LLP",
        "report-opinion": "unqualified",
        "report-residual_risk": "low",
        **{f"checklist-answer_{a.pk}": "yes" for a in answers},
        **{f"checklist-note_{a.pk}": "ok" for a in answers},
    }
    report_errors = form_errors(vendor_forms.ReviewReportForm, instance=review, prefix="report")
    answer_errors = form_errors(
        vendor_forms.ChecklistAnswersForm, answers=answers, prefix="checklist"
    )
    submit(
        client,
        ledger,
        reverse("vendors:review_edit", kwargs={"pk": review.pk}),
        _Combined(report, checklist),  # one POST carries both forms
        valid,
        context="report_form",
        extra={"submit": "1"},
        check=lambda data: {**report_errors(data), **answer_errors(data)},
    )

    force_login_with_mfa(client, people["reviewer"])
    submit(
        client,
        ledger,
        reverse("vendors:review_decide", kwargs={"pk": review.pk}),
        vendor_forms.DecisionForm(),
        {"decision": "conditional", "comment": "c", "conditions": "c"},
        context="decision_form",
    )
    review.refresh_from_db()
    assert review.status == "conditional"
    return vendor


class _Combined(forms.Form):
    """The review page's two forms as one, for `submit` (fields carry their prefixes)."""

    def __init__(self, *parts: forms.BaseForm) -> None:
        super().__init__()
        self.fields = {p.add_prefix(n): f for p in parts for n, f in p.fields.items()}


def _requests(
    client: Any, ledger: Ledger, people: dict[str, Any], vendor: Vendor, capture: Any
) -> list[AccessRequest]:
    owner, security = people["owner"], people["security"]
    staging_account()
    force_login_with_mfa(client, owner)
    valid = {
        "vendor": vendor.pk,
        "strategy": "role_per_account",
        "principals": "arn:aws:iam::123456789012:role/OrbitCi",
        "external_id": "",
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "CI",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    submit(client, ledger, reverse("approvals:request_new"), AccessRequestForm(), valid)
    granted = AccessRequest.objects.latest("pk")
    # The same form with an inline policy whose strings carry payloads: it is stored (IAM
    # would refuse the actions, which the lint findings say) and shown with its findings.
    tag = ledger.tag("inline policy (JSON strings)")
    statement = {"Effect": "Allow", "Action": [f"s3:{short_payload(tag)}"], "Resource": "*"}
    statement["Resource"] = f"arn:aws:s3:::{short_payload(tag)}"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    response = client.post(
        reverse("approvals:request_new"),
        {**valid, "justification": "inline", "policy_source": "inline", "inline_policy": policy},
    )
    ledger.page("POST inline policy", response)
    assert response.status_code == 302, response.context["form"].errors
    generator_tag = ledger.tag("generator resources")
    response = client.post(
        reverse("approvals:request_new"),
        {
            **valid,
            "justification": "generated",
            "policy_source": "generated",
            "generator_service": "s3",
            "generator_levels": ["read"],
            # One ARN: the field splits on white space, so the payload has none.
            "generator_resources": f'arn:aws:s3:::"><svg/onload={generator_tag}>',
        },
    )
    ledger.page("POST generator", response)
    assert response.status_code == 302, response.context["form"].errors

    with capture() as callbacks:
        client.post(reverse("approvals:request_submit", kwargs={"pk": granted.pk}))
    notice_callbacks_only(callbacks)
    comment = ledger.tag("approve comment (POST field)")
    decisions.request_approve(
        request_id=granted.pk, approver=security, mfa_verified=True, comment=payload(comment)
    )
    granted.refresh_from_db()
    if granted.status == "submitted":  # the risk asks for a second approver
        decisions.request_approve(
            request_id=granted.pk, approver=people["reviewer"], mfa_verified=True
        )
    reason = ledger.tag("extension reason (POST field)")
    client.post(
        reverse("approvals:request_extend", kwargs={"pk": granted.pk}),
        {
            "until": (timezone.localdate() + timedelta(days=60)).isoformat(),
            "reason": payload(reason),
        },
    )
    granted.refresh_from_db()
    assert granted.extension_reason == payload(reason)
    force_login_with_mfa(client, security)
    ledger.page("request with extension asked", client.get(_detail(granted)))
    refusal = ledger.tag("extension refusal comment (POST field)")
    decisions.request_extension_decide(
        request_id=granted.pk,
        approver=security,
        approve=False,
        mfa_verified=True,
        comment=payload(refusal),
    )
    revoke = ledger.tag("revoke reason (POST field)")
    with capture() as callbacks:
        revocation.request_revoke(
            request_id=granted.pk, actor=security, mfa_verified=True, reason=payload(revoke)
        )
    notice_callbacks_only(callbacks)

    rejected = request_services.request_duplicate(request_id=granted.pk, actor=owner)
    rejected.expires_on = timezone.localdate() + timedelta(days=9)
    rejected.save(update_fields=["expires_on"])
    request_services.request_submit(request_id=rejected.pk, actor=owner)
    reject = ledger.tag("reject comment (POST field)")
    with capture() as callbacks:
        decisions.request_reject(
            request_id=rejected.pk, approver=security, mfa_verified=True, comment=payload(reject)
        )
    notice_callbacks_only(callbacks)
    return list(AccessRequest.objects.order_by("pk"))


def _detail(access_request: AccessRequest) -> str:
    return reverse("approvals:request_detail", kwargs={"pk": access_request.pk})


def _admin_pages(client: Any, ledger: Ledger) -> None:
    for model in admin.site._registry:
        meta = model._meta
        base = f"admin:{meta.app_label}_{meta.model_name}"
        ledger.page(f"admin {meta.model_name} list", client.get(reverse(f"{base}_changelist")))
        for pk in model._default_manager.order_by("-pk").values_list("pk", flat=True)[:50]:
            response = client.get(reverse(f"{base}_change", args=[pk]))
            ledger.page(f"admin {meta.model_name} {pk}", response)


def _portal_forms() -> Iterator[type[forms.BaseForm]]:
    """Every form class defined in the portal's own modules."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in {
            "accessportal",
            "audit",
            "vendors",
            "inventory",
            "approvals",
            "fulfilment",
            "keys",
            "eventstream",
            "web",
            "provisioning",
        }:
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == name
            ):
                yield value


# The first request picks AWS managed policies, so its inline-policy and generator fields are
# ignored by design; two more requests fill them (tagged separately below).
IGNORED_BY_CHOICE = {
    "AccessRequestForm.inline_policy",
    "AccessRequestForm.generator_service",
    "AccessRequestForm.generator_resources",
}
# Forms that never store what they take: searches, whose reflection is checked below.
SEARCH_FORMS = {"VendorFilterForm", "AccountFilterForm", "RequestFilterForm"}
COVERED_FORMS = {
    "VendorForm",
    "ContactForm",
    "ReviewReportForm",
    "ChecklistAnswersForm",
    "ExceptionForm",
    "CuecForm",
    "SubserviceForm",
    "EvidenceForm",
    "DecisionForm",
    "AccessRequestForm",
    # The approval rules' forms: test_rule_names_and_reasons_are_escaped_where_shown.
    "RuleForm",
    "RuleChangeForm",
    # The API token form: tests/api/test_token_pages.py (the name, escaped where listed).
    "ApiTokenForm",
    # The event stream's endpoint: test_event_endpoint_names_are_escaped_where_shown.
    "EndpointForm",
}


def test_every_form_of_the_portal_is_covered_here():
    import web.views.accounts  # noqa: F401  the module defining the account filter form

    found = {cls.__name__ for cls in _portal_forms()}
    assert found - COVERED_FORMS - SEARCH_FORMS == set(), "add the new form to test_xss.py"


def test_stored_payloads_are_escaped_on_every_page_and_e_mail(
    client, people, django_capture_on_commit_callbacks
):
    ledger = Ledger()
    vendor = _vendor_and_review(client, ledger, people)
    requests = _requests(client, ledger, people, vendor, django_capture_on_commit_callbacks)
    review = SubprocessorReview.objects.get(vendor=vendor)

    for who in ("owner", "security"):
        force_login_with_mfa(client, people[who])
        for url in (
            reverse("dashboard"),
            reverse("vendors:list"),
            reverse("vendors:detail", kwargs={"pk": vendor.pk}),
            reverse("vendors:edit", kwargs={"pk": vendor.pk}),
            reverse("vendors:review_detail", kwargs={"pk": review.pk}),
            reverse("approvals:requests"),
            *(_detail(r) for r in requests),
            *(
                reverse("approvals:request_edit", kwargs={"pk": r.pk})
                for r in requests
                if r.status == "draft" and who == "owner"
            ),
        ):
            response = client.get(url)
            assert response.status_code == 200, (who, url)
            ledger.page(f"{who} {url}", response)
    for contact in vendor.contacts.all():
        url = reverse("vendors:contact_edit", kwargs={"pk": vendor.pk, "contact_id": contact.pk})
        ledger.page(url, client.get(url))
    _admin_pages(client, ledger)
    assert mail.outbox, "the notices were not sent"
    for number, message in enumerate(mail.outbox):
        assert isinstance(message, EmailMultiAlternatives)
        html = next(str(body) for body, kind in message.alternatives if kind == "text/html")
        ledger.pages[f"e-mail {number}: {message.subject}"] = html
        # The subject is plain text (no markup to escape); it must stay one header line.
        assert "\n" not in message.subject, message.subject
        assert "\r" not in message.subject, message.subject

    unescaped = {
        where: m.group(0) for where, html in ledger.pages.items() if (m := UNESCAPED.search(html))
    }
    assert unescaped == {}
    # Shown back means on a page that reads it from the database, not echoed by the form's POST.
    everything = "\n".join(html for where, html in ledger.pages.items() if "POST" not in where)
    shown = {tag for tag in ledger.tags if tag in everything}
    refused_fields = set(ledger.refused)
    lost = {
        where
        for tag, where in ledger.tags.items()
        if tag not in shown and where not in refused_fields
    }
    assert lost == IGNORED_BY_CHOICE, "accepted but never shown (or silently dropped)"
    # The fields that should take free text did: the test is not passing by refusing all.
    assert len(shown) >= 30, sorted(ledger.tags[t] for t in shown)


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("vendors:list", {"q": payload("xs999s")}),
        ("approvals:accounts", {"q": payload("xs999s")}),
        ("approvals:accounts", {"domain": payload("xs999s")}),
        ("approvals:requests_all", {"q": payload("xs999s")}),
        ("approvals:requests_all", {"status": payload("xs999s")}),
        ("admin:vendors_vendor_changelist", {"q": payload("xs999s")}),
        ("admin:audit_auditevent_changelist", {"q": payload("xs999s")}),
    ],
)
def test_searches_reflect_the_query_escaped(client, people, route, params):
    force_login_with_mfa(client, people["security"])
    response = client.get(reverse(route), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert not UNESCAPED.search(html)
    if "q" in params:
        assert "xs999s" in html  # shown back, escaped


def test_a_javascript_website_is_refused(client, people):
    force_login_with_mfa(client, people["owner"])
    response = client.post(
        reverse("vendors:create"),
        {
            "name": "Evil",
            "slug": "evil",
            "service": "s",
            "purpose": "p",
            "website": "javascript:alert(1)",
            "internal_owner": people["owner"].pk,
            "data_sensitivity": "none",
            "access_level": "read",
            "criticality": "low",
        },
    )
    assert response.status_code == 200
    assert "website" in response.context["form"].errors


def test_rule_names_and_reasons_are_escaped_where_shown(client, people, make_user):
    """A rule's name and the reason for a change are free text shown on the rules pages."""
    from django.contrib.auth.models import Group

    from approvals.models import ApprovalRuleSet

    Group.objects.get_or_create(name="security-leads")
    force_login_with_mfa(client, people["security"])
    response = client.post(
        reverse("approvals:rules_propose"),
        {
            "rules-TOTAL_FORMS": "2",
            "rules-INITIAL_FORMS": "1",
            "rules-MIN_NUM_FORMS": "0",
            "rules-MAX_NUM_FORMS": "50",
            "rules-0-name": "Security team",
            "rules-0-approver_group": "security",
            "rules-1-name": short_payload("xs301n"),
            "rules-1-approver_group": "security-leads",
            "rules-1-strategies": "administrator",
            "reason": payload("xs302r"),
        },
    )
    assert response.status_code == 302
    proposal = ApprovalRuleSet.objects.get(status="proposed")
    for url in (
        reverse("approvals:rules"),
        reverse("approvals:rules_version", kwargs={"pk": proposal.pk}),
        reverse("approvals:rules_propose"),
    ):
        html = client.get(url).content.decode()
        assert not UNESCAPED.search(html), url
    shown = client.get(reverse("approvals:rules")).content.decode()
    assert "xs301n" in shown
    assert "xs302r" in shown


def test_event_endpoint_names_are_escaped_where_shown(client, people):
    """An event endpoint's name is free text shown on the stream's pages; a payload URL is
    refused at the field."""
    from eventstream.forms import EndpointForm
    from eventstream.models import EventEndpoint

    assert set(text_fields(EndpointForm())) == {"name", "url"}
    force_login_with_mfa(client, people["security"])
    response = client.post(
        reverse("events:create"),
        {"name": short_payload("xs401n"), "url": "https://siem.example.com/" + payload("xs402u")},
    )
    assert response.status_code == 400  # the URL with markup in it is no URL
    assert not UNESCAPED.search(response.content.decode())
    response = client.post(
        reverse("events:create"),
        {"name": short_payload("xs401n"), "url": "https://siem.example.com/collect"},
    )
    assert response.status_code == 200
    endpoint = EventEndpoint.objects.get()
    for url in (
        reverse("events:list"),
        reverse("events:detail", kwargs={"pk": endpoint.pk}),
    ):
        html = client.get(url).content.decode()
        assert not UNESCAPED.search(html), url
        assert "xs401n" in html, url
