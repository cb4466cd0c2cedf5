"""The request page leads with where it stands; security's and auditors' list of every request."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from tests.factories import draft_request, force_login_with_mfa, staging_account
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db

COMMANDS = [{"shell": "substrate setup", "why": "apply the grant"}]


@pytest.fixture
def grant(engineer, vendor):
    staging_account()
    return draft_request(engineer, vendor)


def _set(r: AccessRequest, status: str, **fields: object) -> None:
    # The status as the services leave it (their moves are tested in their own files).
    AccessRequest.objects.filter(pk=r.pk).update(status=status, **fields)


def _pull(r: AccessRequest, purpose: str, state: str, number: int, **fields: object) -> None:
    PullRequest.objects.create(
        access_request=r,
        forge="local",
        purpose=purpose,
        number=number,
        branch=f"portal/{purpose}-{r.pk}",
        base="main",
        state=state,
        # Merged as approved (a merge of another head is tests/fulfilment's).
        approved_sha="a" * 40,
        merged_head_sha="a" * 40 if state == "merged" else "",
        **fields,
    )


def _text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no {testid}"
    return " ".join(match.group(1).split())


def _page(client, user, r) -> str:
    force_login_with_mfa(client, user)
    response = client.get(reverse("approvals:request_detail", args=[r.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_draft_leads_with_its_requester_to_submit(client, engineer, grant):
    html = _page(client, engineer, grant)
    assert html.index('data-testid="standing"') < html.index('aria-labelledby="approvals-h"')
    assert "submit" in _text(html, "next-step")
    assert _text(html, "who-acts") == "The requester (erin)"
    assert "The change it will make" in html


def test_an_open_pull_request_names_it_as_a_pull_request_and_security_to_merge(
    client, security, grant
):
    _set(grant, "pr_open")
    _pull(grant, "grant", "open", 41)
    html = _page(client, security, grant)
    assert "pull request #41" in _text(html, "standing-where")
    assert _text(html, "who-acts") == "The security team"
    assert "Pull request #41" in html
    assert f"Request #{grant.pk}" in html
    assert "The change it will make" in html


def test_after_the_merge_the_change_is_one_it_made(client, security, grant):
    _set(grant, "active")
    _pull(grant, "grant", "merged", 42, commands=COMMANDS)
    html = _page(client, security, grant)
    assert "The change it made" in html
    assert "The change it will make" not in html
    assert 'data-testid="post-merge-commands"' in html
    assert _text(html, "who-acts") == "Someone with Substrate-account Administrator"


@pytest.mark.parametrize("status", ["revoked", "rejected", "withdrawn", "lapsed"])
def test_a_closed_request_offers_no_grant_commands(client, security, grant, status):
    AccessRequest.objects.filter(pk=grant.pk).update(
        preview={"commit": "abc", "files": [], "commands": ["substrate setup"]}
    )
    _set(grant, status)
    if status == "revoked":
        _pull(grant, "grant", "merged", 43, commands=COMMANDS)
        _pull(grant, "revoke", "open", 44)
    html = _page(client, security, grant)
    assert "I ran these commands" not in html
    assert 'data-testid="commands"' not in html
    assert 'data-testid="post-merge-commands"' not in html
    assert "The change it will make" not in html
    if status == "revoked":
        assert "The change it made" in html
        assert "pull request #44" in _text(html, "standing-where")
    else:
        assert "The change it would have made" in html
        assert _text(html, "who-acts") == "Nobody"


def test_the_timeline_names_each_step_in_order(client, engineer, grant):
    from approvals import requests as services

    services.request_submit(request_id=grant.pk, actor=engineer)
    html = _page(client, engineer, grant)
    timeline = html[html.index('data-testid="timeline"') :]
    assert timeline.index("Filed as a draft") < timeline.index("Submitted to security")
    assert 'data-action="request.submit"' in timeline


# --- Every request, for security and auditors ----------------------------------------------


def test_engineers_may_not_list_every_request_nor_see_the_link(client, engineer, grant):
    force_login_with_mfa(client, engineer)
    assert client.get(reverse("approvals:requests_all")).status_code == 403
    assert "All requests" not in client.get(reverse("dashboard")).content.decode()


def test_security_lists_filters_and_searches_every_request(client, security, auditor, grant):
    other_owner = grant.requester
    acme = vendor_services.vendor_create(
        actor=other_owner, data={**vendor_data(other_owner), "name": "Acme Scan", "slug": "acme"}
    )
    second = draft_request(other_owner, acme)
    _set(second, "active")
    url = reverse("approvals:requests_all")
    for who in (security, auditor):
        force_login_with_mfa(client, who)
        response = client.get(url)
        assert response.status_code == 200
        assert {r.pk for r, *_ in response.context["rows"]} == {grant.pk, second.pk}
        html = response.content.decode()
        assert 'aria-current="page">All requests' in html
        assert 'aria-current="page">My requests' not in html
        # Auditors change nothing: no link to the request form.
        assert ("Request access for a vendor" in html) is (who == security)

    def shown(**params: object) -> set[int]:
        return {r.pk for r, *_ in client.get(url, params).context["rows"]}

    assert shown(status="active") == {second.pk}
    assert shown(strategy="role_per_account") == {grant.pk, second.pk}
    assert shown(strategy="iam_user") == set()
    assert shown(vendor=acme.pk) == {second.pk}
    assert shown(q="acme") == {second.pk}
    assert shown(q=f"#{grant.pk}") == {grant.pk}
    assert shown(q="erin") == {grant.pk, second.pk}
    assert shown(q="nobody-at-all") == set()


def test_the_list_of_every_request_is_paginated_keeping_its_filters(client, security, grant):
    for _n in range(26):
        draft_request(grant.requester, grant.vendor)
    force_login_with_mfa(client, security)
    url = reverse("approvals:requests_all")
    first = client.get(url, {"status": "draft"})
    assert len(first.context["rows"]) == 25
    assert "status=draft&amp;page=2" in first.content.decode()
    second = client.get(url, {"status": "draft", "page": 2})
    assert len(second.context["rows"]) == 2
