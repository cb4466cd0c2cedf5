"""A request filed, approved by two security members and followed to its merged pull request
purely through the REST API, served by gunicorn with a real Celery worker and the fake GitHub
(issue 19). Only the people, the vendor's approved review and the tokens (made on the portal's
tokens page, by sessions that passed the second factor) are set up outside the API.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.error import HTTPError

import pytest
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals.models import AccessRequest
from tests.factories import force_login_with_mfa
from tests.fulfilment.helpers import reviewed_vendor
from tests.integration.helpers import pulls_for
from tests.processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


class Api:
    """Calls the portal's API over HTTP as one token's holder."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), json.loads(response.read())
        except HTTPError as error:
            return error.code, json.loads(error.read())


def _token_from_the_page(client, user, scope: str) -> str:
    force_login_with_mfa(client, user)
    page = client.post(
        reverse("tokens:create"),
        {
            "name": f"{user.username}'s automation",
            "scope": scope,
            "expires_on": (timezone.localdate() + timedelta(days=7)).isoformat(),
        },
    )
    assert page.status_code == 200, page.content
    return page.context["issued"].plaintext


def test_a_request_goes_from_filing_to_its_merged_pull_request_through_the_api(
    stack, worker, web, substrate, make_user, client
):
    engineer = make_user("erin")
    reviewer = make_user("rita", Role.SECURITY)
    first, second = make_user("sam", Role.SECURITY), make_user("sasha", Role.SECURITY)
    vendor = reviewed_vendor(engineer, reviewer, name="Atlas Ops", slug="atlas-ops")
    filer = Api(web, _token_from_the_page(client, engineer, "request"))
    approvers = [Api(web, _token_from_the_page(client, who, "approve")) for who in (first, second)]

    # Filed and submitted by the engineer's token: the Administrator role needs two approvals.
    code, draft = filer.call(
        "POST",
        "/api/v1/requests/",
        {
            "vendor": vendor.pk,
            "strategy": "administrator",
            "principals": ["arn:aws:iam::123456789012:role/AtlasOps"],
            "justification": "Runs our incident automation.",
            "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
    )
    assert code == 201, draft
    pk = draft["id"]
    code, submitted = filer.call("POST", f"/api/v1/requests/{pk}/submit/")
    assert code == 200, submitted
    assert (submitted["status"], submitted["required_approvals"]) == ("submitted", 2)

    # The requester cannot approve (scope), one approver counts once, the second completes.
    code, refused = filer.call("POST", f"/api/v1/requests/{pk}/approve/")
    assert (code, refused["error"]["status"]) == (403, 403)
    code, once = approvers[0].call("POST", f"/api/v1/requests/{pk}/approve/", {"comment": "ok"})
    assert (code, once["status"]) == (200, "submitted")
    code, twice = approvers[0].call("POST", f"/api/v1/requests/{pk}/approve/", {"comment": "again"})
    assert code == 400, twice
    assert "counts once" in twice["error"]["message"]
    code, approved = approvers[1].call("POST", f"/api/v1/requests/{pk}/approve/", {})
    assert code == 200, approved
    assert approved["status"] in ("approved", "provisioning", "pr_open")
    assert sorted(a["approver"] for a in approved["approvals"]) == ["sam", "sasha"]

    # Followed through the API: the worker opens the pull request on the fake GitHub.
    def grant_pull() -> dict[str, Any] | None:
        _code, shown = filer.call("GET", f"/api/v1/requests/{pk}/")
        opened = [p for p in shown["pull_requests"] if p["purpose"] == "grant" and p["url"]]
        return opened[0] if opened and shown["status"] == "pr_open" else None

    pull = wait_until(
        grant_pull,
        timeout=90,
        what="the pull request, seen through the API",
        log=stack.worker_log("main"),
    )
    (on_github,) = pulls_for(stack.github, AccessRequest.objects.get(pk=pk))
    assert (pull["number"], pull["branch"], pull["state"]) == (
        on_github.number,
        on_github.head,
        "open",
    )
    code, detail = approvers[0].call("GET", f"/api/v1/pull-requests/{pull['id']}/")
    assert (code, detail["number"]) == (200, on_github.number)

    # Merged on GitHub: the webhook reaches gunicorn and the API shows the grant active.
    stack.github.merge(on_github.number)
    wait_until(
        lambda: filer.call("GET", f"/api/v1/requests/{pk}/")[1]["status"] == "active",
        timeout=60,
        what="the request to be active",
        log=stack.worker_log("main"),
    )
    # The audit log, read through the API, holds each step and each call of the tokens.
    code, page = approvers[1].call("GET", "/api/v1/audit-events/?page_size=200")
    assert code == 200
    seen = [e["action"] for e in page["results"] if e["object_id"] == str(pk)]
    for step in ("request.create", "request.submit", "request.approve", "request.activate"):
        assert step in seen, (step, seen)
    uses = [e for e in page["results"] if e["action"] == "api.token_use"]
    assert {e["actor"] for e in uses} >= {"erin", "sam", "sasha"}
    assert all(filer.token not in json.dumps(e) for e in page["results"])
