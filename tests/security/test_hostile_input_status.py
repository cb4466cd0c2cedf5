"""Hostile input that used to answer 500 gets a clear 4xx (issue 15), through the test client."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import AccessRequest
from fulfilment.models import WebhookDelivery
from tests.approvals import test_requests as request_tests
from tests.fulfilment.helpers import sign

# The request tests' fixtures: a vendor, its engineer and an inventory of accounts.
accounts = request_tests.accounts

pytestmark = pytest.mark.django_db


def _nested_policy(depth: int) -> str:
    """A policy whose Condition holds `depth` nested arrays."""
    return (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
        '"Resource": "*", "Condition": {"StringEquals": {"aws:x": '
        + "[" * depth
        + "]" * depth
        + "}}}]}"
    )


@pytest.mark.parametrize("depth", [3_000, 200])
def test_a_deeply_nested_inline_policy_is_refused_beside_its_field(
    client, vendor, engineer, accounts, depth
):
    client.force_login(engineer)
    response = client.post(
        reverse("approvals:request_new"),
        {
            "vendor": vendor.pk,
            "strategy": "role_per_account",
            "principals": request_tests.VENDOR_ROLE,
            "domains": ["payments"],
            "environments": ["*"],
            "qualities": ["*"],
            "policy_source": "inline",
            "inline_policy": _nested_policy(depth),
            "justification": "Deep",
            "expires_on": "2099-01-01",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    start = html.index('id="field-inline_policy"')
    assert "nested too deeply" in html[start : start + 200_000]
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("as_of", ["0001-01-01", "0001-01-02", "9999-12-31"])
def test_an_as_of_date_out_of_range_is_a_form_error(client, make_user, as_of):
    client.force_login(make_user("ari", Role.AUDITORS))
    for name in ("reports:subprocessors", "reports:audit_trail"):
        response = client.get(reverse(name), {"format": "csv", "as_of": as_of})
        assert response.status_code == 400, (name, as_of)
        assert "as_of" in response.context["report_form" if "sub" in name else "audit_form"].errors


def test_the_audit_log_refuses_dates_out_of_range(client, make_user):
    client.force_login(make_user("ari", Role.AUDITORS))
    for name in ("since", "until"):
        response = client.get(reverse("reports:audit_log"), {name: "0001-01-01"})
        assert response.status_code == 400
        assert "Choose a date from 1970-01-01" in response.content.decode()


@pytest.mark.parametrize("url", ["/webhooks/github/", "/webhooks/gitlab/"])
def test_a_signed_webhook_nested_50000_deep_is_a_bad_request(client, settings, url):
    settings.FORGE_WEBHOOK_SECRET = "whsec-0123456789abcdef-SECRET"
    body = b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    headers = (
        {
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "deep-1",
            "X-Hub-Signature-256": sign(body),
        }
        if "github" in url
        else {
            "X-Gitlab-Event": "Merge Request Hook",
            "X-Gitlab-Event-UUID": "deep-1",
            "X-Gitlab-Token": settings.FORGE_WEBHOOK_SECRET,
        }
    )
    response = client.post(url, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"status": "invalid json"}
    assert not WebhookDelivery.objects.exists()
