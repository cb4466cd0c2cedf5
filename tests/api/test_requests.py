"""Access requests through the API: the pages' rules, in the API's one error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import ApiToken
from approvals.models import AccessRequest
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _draft(reviewed_vendor) -> dict:
    return {
        "vendor": reviewed_vendor.pk,
        "strategy": "role_per_account",
        "principals": ["arn:aws:iam::123456789012:role/Vendor"],
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Runs our deployments.",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }


def test_a_request_is_filed_submitted_and_approved_with_tokens(
    api, token_for, reviewed_vendor, engineer, security, account
):
    filer = api(token_for(engineer))
    created = filer.post("/api/v1/requests/", _draft(reviewed_vendor))
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["requester"], body["target_domains"]) == (
        "draft",
        "erin",
        ["payments"],
    )
    submitted = filer.post(f"/api/v1/requests/{body['id']}/submit/")
    assert submitted.status_code == 200, submitted.json()
    assert submitted.json()["status"] == "submitted"
    approver = api(token_for(security, "approve"))
    approved = approver.post(f"/api/v1/requests/{body['id']}/approve/", {"comment": "ok"})
    assert approved.status_code == 200, approved.json()
    assert AccessRequest.objects.get(pk=body["id"]).status == "approved"
    assert [a["approver"] for a in approved.json()["approvals"]] == ["sam"]
    uses = AuditEvent.objects.filter(action="api.token_use").count()
    assert uses == 3


def test_field_errors_come_all_at_once_in_the_error_shape(
    api, token_for, reviewed_vendor, engineer, account
):
    data = {**_draft(reviewed_vendor), "principals": ["not-an-arn"], "expires_on": "nope"}
    answer = api(token_for(engineer)).post("/api/v1/requests/", data)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["status"], error["code"]) == (400, "invalid")
    assert set(error["fields"]) == {"expires_on"}  # types first, then the form's rules
    data["expires_on"] = _draft(reviewed_vendor)["expires_on"]
    answer = api(token_for(engineer)).post("/api/v1/requests/", data)
    assert answer.status_code == 400
    assert "principals" in answer.json()["error"]["fields"]


def test_a_request_token_cannot_approve_and_a_password_alone_cannot_either(
    api, token_for, reviewed_vendor, engineer, security, account
):
    filer = api(token_for(engineer))
    pk = filer.post("/api/v1/requests/", _draft(reviewed_vendor)).json()["id"]
    filer.post(f"/api/v1/requests/{pk}/submit/")
    answer = api(token_for(security, "request")).post(f"/api/v1/requests/{pk}/approve/")
    assert answer.status_code == 403
    assert "scope" in answer.json()["error"]["message"]
    # An approving token whose owner has not passed the second factor lately: refused by
    # the service's own MFA rule.
    approve = token_for(security, "approve")
    security.mfa_verification.verified_at = timezone.now() - timedelta(days=2)
    security.mfa_verification.save()
    answer = api(approve).post(f"/api/v1/requests/{pk}/approve/")
    assert answer.status_code == 403
    assert "second factor" in answer.json()["error"]["message"]
    assert AccessRequest.objects.get(pk=pk).status == "submitted"


def test_revoked_and_expired_tokens_are_refused_and_audited(api, token_for, engineer):
    token = token_for(engineer)
    assert api(token).get("/api/v1/me/").status_code == 200
    ApiToken.objects.update(revoked_at=timezone.now())
    answer = api(token).get("/api/v1/me/")
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "This token was revoked."
    assert AuditEvent.objects.filter(action="api.token_refused").count() == 1
    assert api("vap_nothing_here").get("/api/v1/me/").status_code == 401
    assert api("").get("/api/v1/me/").status_code == 401
