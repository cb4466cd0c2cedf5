"""What the integration tests ask of the running stack: pull requests, the broker, pages."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

import redis
from django.conf import settings
from django.test import Client

from accessportal.roles import Role
from approvals.models import AccessRequest
from audit.models import AuditEvent
from tests.fakes.github import FakeGitHub, FakePull
from tests.fixtures.substrate_repo import FixtureRepo
from tests.fulfilment.helpers import approved


def approve(make_user: Any, substrate: FixtureRepo, vendor: str) -> AccessRequest:
    """A low-risk request of vendor `vendor` approved by security; approval enqueues its
    provisioning through Redis when the transaction commits."""
    engineer = make_user("erin")
    security = make_user("sam", Role.SECURITY, is_staff=True)
    slug = vendor.lower().replace(" ", "-")
    return approved(engineer, security, make_user, substrate, name=vendor, slug=slug)


def pulls_for(github: FakeGitHub, access_request: AccessRequest) -> list[FakePull]:
    """Every pull request (any state) the fake GitHub holds for the request's branch."""
    prefix = f"vendor-access/req-{access_request.pk}-"
    return [p for p in github.pulls.values() if p.head.startswith(prefix)]


def status(access_request: AccessRequest) -> str:
    return AccessRequest.objects.get(pk=access_request.pk).status


def actions(access_request: AccessRequest, prefix: str = "request.") -> list[str]:
    """The request's audited actions starting with `prefix`, in order."""
    return list(
        AuditEvent.objects.filter(object_id=str(access_request.pk), action__startswith=prefix)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def broker_idle() -> bool:
    """No task waiting in the queue and none delivered but unacknowledged (running, or held
    for a retry's countdown)."""
    client = broker()
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def get_page(base_url: str, path: str, client: Client) -> tuple[int, bytes]:
    """GETs `path` from the web process with the session `client` is logged in with."""
    request = urllib.request.Request(
        base_url + path,
        headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read()
    except HTTPError as error:
        return error.code, error.read()


def get_json(base_url: str, path: str, client: Client) -> tuple[int, Any]:
    code, body = get_page(base_url, path, client)
    return code, json.loads(body) if code == 200 else None
