"""Every API route and method against every role and every token scope that role may hold.

Each (route name, method) under the `api` namespace must be classified below: a new route or
a newly allowed method fails `test_every_api_route_and_method_is_classified` until someone
decides who may use it. The expectations are derived from api/permissions.py (scope, then
the owner's roles now, then the view's `roles`), the views' querysets and the services'
own checks, which the API calls as the pages do.

Outcomes: "allow" means the call passed authorization (any status but 401 and 403: a 400,
404 or 409 of a business rule is fine, this file checks who, not what); 403 a refusal in the
error shape; 404 a refusal that hides the object (a queryset that leaves it out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import URLPattern, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accessportal.roles import Role
from api import tokens
from api.models import ApiToken, MfaVerification
from approvals import decisions
from approvals.models import AccessRequest, Approval
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from keys.models import AccessKey
from reports.models import ReportExport
from tests.approvals.helpers import submitted
from tests.security.test_authorization_matrix import _finding, _ready_binder, _routes
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services
from vendors.models import SubprocessorReview

pytestmark = pytest.mark.django_db

ALLOW = "allow"
# The audit rows a refused call may leave: its own use of the token, or the token's refusal.
TOKEN_ACTIONS = ("api.token_use", "api.token_refused")

# Who may, by kind. Each maps (role, scope) to the outcome; roles are "other" (a requester
# unrelated to the objects), "engineer" (the requester who owns them), "auditor", "security".
Rule = Callable[[str, str], Any]


def _any_read(role: str, scope: str) -> Any:
    return ALLOW


def _readers(role: str, scope: str) -> Any:
    # The view's `roles = READERS`: security and auditors, any scope (reading needs `read`).
    return ALLOW if role in ("security", "auditor") else 403


def _security_read(role: str, scope: str) -> Any:
    return ALLOW if role == "security" else 403


def _owner_read(role: str, scope: str) -> Any:
    # approvals.selectors.request_visible_to: another's request is a PermissionDenied (403),
    # as on the pages (approvals:request_detail), not a 404.
    return 403 if role == "other" else ALLOW


def _owner_read_hidden(role: str, scope: str) -> Any:
    # A queryset of what the caller may see (reviews_visible_to, requests_visible_to): the
    # other requester gets the 404 of a row that does not exist.
    return 404 if role == "other" else ALLOW


def _token_owner_or_security(role: str, scope: str) -> Any:
    # tokens.tokens_visible_to: one's own tokens, security everyone's; others see a 404.
    return ALLOW if role in ("engineer", "security") else 404


def _token_revoke(role: str, scope: str) -> Any:
    """Revoking the engineer's token: any scope may revoke (an owner always gives up their own
    credential), then the view's queryset hides others' tokens (404) from all but security,
    whose service check needs a second factor (an approving token of a recently verified
    owner)."""
    if role in ("other", "auditor"):
        return 404
    if role == "security":
        return ALLOW if scope == "approve" else 403
    return ALLOW


def _write(role: str, scope: str) -> Any:
    # Filing a request: scope >= request, and no auditor (`can_write`).
    return ALLOW if scope != "read" and role != "auditor" else 403


def _owner_write(role: str, scope: str) -> Any:
    """The requester's own actions: scope >= request; another requester is refused by
    request_visible_to (403), security by the service ("Only the requester ...")."""
    return ALLOW if role == "engineer" and scope != "read" else 403


def _approve(role: str, scope: str) -> Any:
    # The action names scope `approve`: only security holds one, and its owner verified
    # recently (the world's approving token was made by a session with a second factor).
    return ALLOW if role == "security" and scope == "approve" else 403


def _export_create(role: str, scope: str) -> Any:
    # `scopes = {"create": read}`: asking for a binder reads, so an auditor's read token may.
    return _readers(role, scope)


def _export_own(role: str, scope: str) -> Any:
    # Only whoever asked for the binder (the auditor); security gets the 404 of a binder that
    # never existed, as on the pages (reports:export_status); requesters fail the view's roles.
    if role == "auditor":
        return ALLOW
    return 404 if role == "security" else 403


def _docs(role: str, scope: str) -> Any:
    # api.docs.SignedIn: anyone signed in, by session or token, any scope.
    return ALLOW


def _no_route_read(role: str, scope: str) -> Any:
    # api.views.NoRouteView: a path no route matches is 404 for every signed-in caller...
    return 404


def _no_route_write(role: str, scope: str) -> Any:
    # ... after the scope and role checks of a write, like any other write.
    return 404 if scope != "read" and role != "auditor" else 403


MATRIX: dict[tuple[str, str], Rule] = {
    ("api:me", "GET"): _any_read,
    ("api:token-list", "GET"): _any_read,
    ("api:token-detail", "GET"): _token_owner_or_security,
    ("api:token-revoke", "POST"): _token_revoke,
    ("api:vendor-list", "GET"): _any_read,
    ("api:vendor-detail", "GET"): _any_read,
    ("api:review-list", "GET"): _any_read,
    ("api:review-detail", "GET"): _owner_read_hidden,
    ("api:review-decide", "POST"): _approve,
    ("api:request-list", "GET"): _any_read,
    ("api:request-list", "POST"): _write,
    ("api:request-detail", "GET"): _owner_read,
    ("api:request-detail", "PATCH"): _owner_write,
    ("api:request-submit", "POST"): _owner_write,
    ("api:request-withdraw", "POST"): _owner_write,
    ("api:request-extend", "POST"): _owner_write,
    ("api:request-approve", "POST"): _approve,
    ("api:request-reject", "POST"): _approve,
    ("api:request-extension", "POST"): _approve,
    ("api:approval-list", "GET"): _any_read,
    ("api:approval-detail", "GET"): _owner_read_hidden,
    ("api:pullrequest-list", "GET"): _readers,
    ("api:pullrequest-detail", "GET"): _readers,
    ("api:key-list", "GET"): _any_read,
    ("api:key-detail", "GET"): _owner_read_hidden,
    ("api:account-list", "GET"): _any_read,
    ("api:account-detail", "GET"): _any_read,
    ("api:finding-list", "GET"): _security_read,
    ("api:finding-detail", "GET"): _security_read,
    ("api:export-list", "POST"): _export_create,
    ("api:export-detail", "GET"): _export_own,
    ("api:export-download", "GET"): _export_own,
    ("api:auditevent-list", "GET"): _readers,
    ("api:auditevent-detail", "GET"): _readers,
    ("api:schema", "GET"): _docs,
    ("api:docs", "GET"): _docs,
    ("api:no-route", "GET"): _no_route_read,
    ("api:no-route", "POST"): _no_route_write,
    ("api:no-route", "PUT"): _no_route_write,
    ("api:no-route", "PATCH"): _no_route_write,
    ("api:no-route", "DELETE"): _no_route_write,
}
DOCS = {("api:schema", "GET"), ("api:docs", "GET")}


def _view_methods(pattern: URLPattern) -> set[str]:
    """The HTTP methods a route answers (HEAD and OPTIONS aside): a viewset route's
    `actions`, else the view class's handlers."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions is not None:
        methods = {m.upper() for m in actions}
    else:
        view_class = getattr(callback, "cls", None) or callback.view_class  # type: ignore[attr-defined]
        methods = set(view_class().allowed_methods)
    return methods - {"HEAD", "OPTIONS"}


def _api_routes() -> dict[str, URLPattern]:
    return {
        name: pattern
        for name, pattern, _urlconf in _routes(get_resolver().url_patterns)
        if name.startswith("api:")
    }


def _api_route_methods() -> set[tuple[str, str]]:
    return {
        (name, method)
        for name, pattern in _api_routes().items()
        for method in _view_methods(pattern)
    }


def test_every_api_route_and_method_is_classified():
    found = _api_route_methods()
    assert found - set(MATRIX) == set(), "classify the new API routes and methods in this file"
    assert set(MATRIX) - found == set(), "remove API routes and methods that no longer exist"


@dataclass
class World:
    people: dict[str, Any]
    urls: dict[str, str]
    bodies: dict[tuple[str, str], dict[str, Any]]
    # (role, scope) -> plaintext token; the principals of the matrix.
    tokens: dict[tuple[str, str], str]


def _principals(people: dict[str, Any]) -> list[tuple[str, str]]:
    """Each role with each scope `tokens.scopes_for` lets it hold."""
    return [
        (role, str(scope))
        for role in ("other", "engineer", "auditor", "security")
        for scope in tokens.scopes_for(people[role])
    ]


def _draft_body(vendor: Any) -> dict[str, Any]:
    return {
        "vendor": vendor.pk,
        "strategy": "role_per_account",
        "principals": ["arn:aws:iam::123456789012:role/Vendor"],
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Runs our deployments.",
        "role_name": "OrbitCiFiled",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }


@pytest.fixture
def world(make_user, engineer, auditor, security, security2, reviewed_vendor, account, token_for):
    """Real objects so every detail route resolves, all the engineer's (the binder is the
    auditor's), and a token of each role for each scope it may hold."""
    people = {
        "other": make_user("olga"),
        "engineer": engineer,
        "auditor": auditor,
        "security": security,
    }
    from approvals import requests as request_services

    draft = request_services.request_save(
        actor=engineer,
        data={
            "vendor": reviewed_vendor,
            "strategy": "role_per_account",
            "principals": "arn:aws:iam::123456789012:role/Drafted",
            "external_id": "",
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "role_name": "OrbitCiDrafted",
            "policy_source": "managed",
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "Not yet sent.",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    pending = submitted(reviewed_vendor, engineer, role_name="OrbitCiPending")
    # A second request, approved by another security member: the Approval row, and a grant
    # whose end date may be extended.
    approved = submitted(
        reviewed_vendor,
        engineer,
        principals="arn:aws:iam::123456789012:role/Approved",
        role_name="OrbitCiApproved",
    )
    decisions.request_approve(
        request_id=approved.pk, approver=security2, mfa_verified=True, comment="ok"
    )
    approved.refresh_from_db()
    assert approved.status == "approved", approved.status
    approval = Approval.objects.get(access_request=approved)
    pull = PullRequest.objects.create(
        access_request=approved,
        forge="local",
        number=7,
        branch=f"vendor-access/req-{approved.pk}-orbit-ci",
        base="main",
        state="open",
        title="t",
    )
    key = AccessKey.objects.create(
        access_request=approved,
        user_name="orbit-ci",
        access_key_id="AKIAEXAMPLEKEY000001",
        status=AccessKey.Status.ACTIVE,
    )
    # A review waiting for security's decision, of another vendor of the engineer's.
    other_vendor = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, name="Nimbus Logs", slug="nimbus-logs")
    )
    review = vendor_services.review_start(vendor_id=other_vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    finding = _finding()
    binder = _ready_binder(auditor)
    # The engineer's token that revoke aims at: not one the matrix calls with.
    target = tokens.token_create(
        owner=engineer,
        name="target",
        scope="read",
        expires_on=timezone.localdate() + timedelta(days=5),
        mfa_verified=False,
    ).token
    event = AuditEvent.objects.order_by("sequence").first()
    assert event is not None
    kwargs: dict[str, dict[str, Any]] = {
        "api:token-detail": {"pk": target.pk},
        "api:token-revoke": {"pk": target.pk},
        "api:vendor-detail": {"pk": reviewed_vendor.pk},
        "api:review-detail": {"pk": review.pk},
        "api:review-decide": {"pk": review.pk},
        "api:request-detail": {"pk": draft.pk},
        "api:request-submit": {"pk": draft.pk},
        "api:request-withdraw": {"pk": pending.pk},
        "api:request-approve": {"pk": pending.pk},
        "api:request-reject": {"pk": pending.pk},
        "api:request-extend": {"pk": approved.pk},
        "api:request-extension": {"pk": approved.pk},
        "api:approval-detail": {"pk": approval.pk},
        "api:pullrequest-detail": {"pk": pull.pk},
        "api:key-detail": {"pk": key.pk},
        "api:account-detail": {"pk": account.pk},
        "api:finding-detail": {"pk": finding.pk},
        "api:export-detail": {"pk": binder.pk},
        "api:export-download": {"pk": binder.pk},
        "api:auditevent-detail": {"sequence": event.sequence},
    }
    urls = {name: reverse(name, kwargs=kwargs.get(name)) for name in _api_routes()}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("api:request-list", "POST"): _draft_body(reviewed_vendor),
        ("api:request-detail", "PATCH"): {"justification": "Runs our nightly deployments."},
        ("api:request-extend", "POST"): {
            "until": (timezone.localdate() + timedelta(days=45)).isoformat(),
            "reason": "The migration takes longer.",
        },
        ("api:request-approve", "POST"): {"comment": "ok"},
        ("api:request-reject", "POST"): {"comment": "No."},
        ("api:request-extension", "POST"): {"approve": True, "comment": "ok"},
        ("api:review-decide", "POST"): {"decision": "approved"},
        ("api:export-list", "POST"): {},
    }
    made = {(role, scope): token_for(people[role], scope) for role, scope in _principals(people)}
    return World(people, urls, bodies, made)


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _call(client: APIClient, method: str, url: str, body: dict[str, Any] | None) -> Any:
    send = getattr(client, method.lower())
    if method == "GET":
        return send(url)
    return send(url, body or {}, format="json")


def _state() -> dict[str, Any]:
    """What a refused call must leave as it was."""
    return {
        "requests": sorted(AccessRequest.objects.values_list("pk", "status", "justification")),
        "extension_until": sorted(AccessRequest.objects.values_list("pk", "extension_until")),
        "approvals": Approval.objects.count(),
        "reviews": sorted(SubprocessorReview.objects.values_list("pk", "status")),
        "revoked": sorted(ApiToken.objects.values_list("pk", "revoked_at")),
        "exports": ReportExport.objects.count(),
        "audit": AuditEvent.objects.exclude(action__in=TOKEN_ACTIONS).count(),
    }


def _assert_error_shape(response: Any, status: int, label: Any) -> None:
    body = response.json()
    assert set(body) == {"error"}, (label, body)
    assert body["error"]["status"] == status, (label, body)
    assert body["error"]["code"], (label, body)
    assert body["error"]["message"], (label, body)


def _order(rule: Rule, principals: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Refusals first: a call that succeeds (an approval, a submission) must not change what
    a later refused one would meet."""
    return sorted(principals, key=lambda p: rule(*p) == ALLOW)


@pytest.mark.parametrize(("name", "method"), sorted(MATRIX))
def test_each_role_and_scope_gets_what_the_matrix_says(world, name, method):
    url = world.urls[name]
    body = world.bodies.get((name, method))
    changes = method != "GET"

    anonymous = _call(_client(None), method, url, body)
    if (name, method) in DOCS:
        # Refused, but with a 403 (and the Swagger page's HTML, not the error shape):
        # test_anonymous_docs_readers_get_401 says what it should be.
        assert anonymous.status_code in (401, 403), name
    else:
        assert anonymous.status_code == 401, (name, anonymous.status_code)
        assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
        _assert_error_shape(anonymous, 401, (name, "anonymous"))

    rule = MATRIX[(name, method)]
    for role, scope in _order(rule, list(world.tokens)):
        label = (name, method, role, scope)
        expected = rule(role, scope)
        before = _state() if changes and expected != ALLOW else None
        response = _call(_client(world.tokens[(role, scope)]), method, url, body)
        if expected == ALLOW:
            assert response.status_code not in (401, 403), (label, response.status_code)
            continue
        assert response.status_code == expected, (label, response.status_code, response.content)
        _assert_error_shape(response, expected, label)
        if before is not None:
            assert _state() == before, label


def test_the_allowed_state_changes_happen(world):
    """The matrix's "allow" for the actions that change state is a real success, not only a
    business refusal, for the rows the world builds (so a broken world cannot pass it)."""
    engineer = world.tokens[("engineer", "request")]
    approver = world.tokens[("security", "approve")]
    cases = [
        (engineer, "PATCH", "api:request-detail", 200),
        (engineer, "POST", "api:request-submit", 200),
        (engineer, "POST", "api:request-extend", 200),
        (engineer, "POST", "api:request-list", 201),
        (approver, "POST", "api:request-approve", 200),
        (approver, "POST", "api:review-decide", 200),
        (approver, "POST", "api:token-revoke", 200),
        (world.tokens[("auditor", "read")], "POST", "api:export-list", 202),
        (world.tokens[("auditor", "read")], "GET", "api:export-download", 200),
    ]
    for token, method, name, status in cases:
        body = world.bodies.get((name, method))
        response = _call(_client(token), method, world.urls[name], body)
        assert response.status_code == status, (name, response.status_code, response.content)


def test_the_principals_are_the_scopes_each_role_may_hold(world):
    assert sorted(world.tokens) == sorted(
        [
            ("auditor", "read"),
            ("engineer", "read"),
            ("engineer", "request"),
            ("other", "read"),
            ("other", "request"),
            ("security", "approve"),
            ("security", "read"),
            ("security", "request"),
        ]
    )


def test_docs_are_read_with_a_session_but_nothing_else_is(client, world):
    client.force_login(world.people["auditor"])
    for name in ("api:schema", "api:docs"):
        assert client.get(world.urls[name]).status_code == 200, name
    # The rest of the API takes only tokens: a session is anonymous there.
    for name in ("api:me", "api:vendor-list", "api:request-detail"):
        response = client.get(world.urls[name])
        assert response.status_code == 401, name
        _assert_error_shape(response, 401, name)


def test_anonymous_docs_readers_get_401(world):
    for name in ("api:schema", "api:docs"):
        response = _client(None).get(world.urls[name])
        assert response.status_code == 401, name
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_writer_turned_auditor_keeps_a_request_token_that_writes_nothing(
    make_user, token_for, reviewed_vendor, account
):
    wanda = make_user("wanda")
    token = token_for(wanda, "request")
    wanda.groups.add(Group.objects.get(name=Role.AUDITORS))
    client = _client(token)
    assert client.get("/api/v1/me/").status_code == 200
    before = _state()
    response = client.post("/api/v1/requests/", _draft_body(reviewed_vendor), format="json")
    assert response.status_code == 403
    _assert_error_shape(response, 403, "auditor write")
    assert "Auditors" in response.json()["error"]["message"]
    assert _state() == before
    assert not AccessRequest.objects.filter(requester=wanda).exists()


def test_an_approving_token_of_a_member_who_left_security_cannot_approve(
    token_for, security, engineer, reviewed_vendor, account
):
    pending = submitted(reviewed_vendor, engineer)
    token = token_for(security, "approve")
    security.groups.remove(Group.objects.get(name=Role.SECURITY))
    before = _state()
    response = _client(token).post(f"/api/v1/requests/{pending.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    _assert_error_shape(response, 403, "left security")
    assert _state() == before


def test_an_approving_token_whose_owner_has_not_verified_lately_does_not_approve(
    token_for, security, engineer, reviewed_vendor, account
):
    pending = submitted(reviewed_vendor, engineer)
    token = token_for(security, "approve")
    stale = timezone.now() - timedelta(hours=settings.PORTAL_API_MFA_HOURS, minutes=1)
    MfaVerification.objects.filter(user=security).update(verified_at=stale)
    client = _client(token)
    assert client.get("/api/v1/me/").json()["may_approve"] is False
    before = _state()
    for action in ("approve", "reject"):
        response = client.post(
            f"/api/v1/requests/{pending.pk}/{action}/", {"comment": "x"}, format="json"
        )
        assert response.status_code == 403, action
        _assert_error_shape(response, 403, action)
        assert "second factor" in response.json()["error"]["message"], action
    assert _state() == before
    assert AccessRequest.objects.get(pk=pending.pk).status == "submitted"
    assert not Approval.objects.filter(access_request=pending).exists()


def test_a_deactivated_users_token_is_refused_and_audited(token_for, engineer):
    token = token_for(engineer, "request")
    assert _client(token).get("/api/v1/me/").status_code == 200
    engineer.is_active = False
    engineer.save(update_fields=["is_active"])
    for path in ("/api/v1/me/", "/api/v1/requests/"):
        response = _client(token).get(path)
        assert response.status_code == 401, path
        _assert_error_shape(response, 401, path)
        assert "can no longer sign in" in response.json()["error"]["message"], path
    # The docs refuse it too, with a 403 for now (test_anonymous_docs_readers_get_401).
    assert _client(token).get("/api/schema/").status_code in (401, 403)
    refused = AuditEvent.objects.filter(action="api.token_refused").count()
    assert refused == 3
