"""The production topology under concurrent load (issue 15): gunicorn with several worker
processes on PostgreSQL and Redis, two Celery workers, and 50 requests at once: approvals by
two security members, signed webhook deliveries and page reads by several people.

A web process that shared its database socket with another (a connection the master opened
before forking) answered 500 or 403 here and served one session's data to another; so every
answer is checked to be a success and to be the answer to its own request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode

import pytest
from allauth.account.internal.flows.login import (
    _AUTHENTICATION_METHODS_USER_SESSION_KEY,
    AUTHENTICATION_METHODS_SESSION_KEY,
)
from django.test import Client
from django.urls import reverse

from accessportal.roles import Role
from approvals.models import AccessRequest, Approval
from tests.fulfilment.helpers import reviewed_vendor, submitted
from tests.integration.helpers import broker_idle
from tests.processes import wait_until
from tests.stack import WEB_WORKERS, WEBHOOK_SECRET, Stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

ROUNDS = 10  # "passes ten runs in a row": each round is a fresh burst of 50
APPROVALS_PER_APPROVER = 2
WEBHOOKS = 16
READERS = ("erin", "eddie", "ellen", "emil", "esme")
READS_PER_READER = 6


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 302 itself is the answer to check


_opener = urllib.request.build_opener(_NoRedirect())


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _send(url: str, *, data: bytes | None = None, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _opener.open(request, timeout=60) as response:
            return Answer(int(response.status), dict(response.headers), response.read())
    except HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


@dataclass
class Session:
    """A signed-in person's browser: the session cookie and a CSRF secret of its own."""

    username: str
    sessionid: str
    csrf: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters

    def cookie(self) -> str:
        return f"sessionid={self.sessionid}; csrftoken={self.csrf}"


def _session(user: Any, *, mfa: bool) -> Session:
    """A session as allauth leaves it after the sign-in (with its TOTP step when `mfa`)."""
    client = Client()
    client.force_login(user)
    if mfa:
        session = client.session
        session[AUTHENTICATION_METHODS_SESSION_KEY] = [
            {"method": "password", "at": time.time(), "username": user.username},
            {"method": "mfa", "at": time.time(), "type": "totp", "id": 1},
        ]
        session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
        session.save()
    return Session(user.username, client.cookies["sessionid"].value)


def _webhook(web: str, event: str, delivery: str) -> tuple[str, Answer]:
    """A signed GitHub delivery; the answer names what the portal made of it."""
    payload: dict[str, Any] = {"zen": "Keep it logically awesome."}
    if event == "pull_request":
        # A pull request the portal does not know: recorded as delivered, then ignored.
        payload = {
            "action": "closed",
            "number": 900000 + int(delivery.rsplit("-", 1)[1]),
            "pull_request": {"merged": True, "head": {"sha": "0" * 40}, "merge_commit_sha": None},
            "repository": {"full_name": "example/substrate"},
        }
    body = json.dumps(payload).encode()
    signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = _send(
        f"{web}/webhooks/github/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": f"sha256={signature}",
        },
    )
    return event, answer


def test_fifty_concurrent_mixed_requests_each_get_their_own_answer(
    stack: Stack, worker: object, web: str, substrate: Any, make_user: Any
) -> None:
    assert WEB_WORKERS >= 3
    approvers = [make_user(name, Role.SECURITY, is_staff=True) for name in ("sam", "sue")]
    reviewer = make_user("rita", Role.SECURITY)
    readers = [make_user(name) for name in READERS]
    approver_sessions = [_session(user, mfa=True) for user in approvers]
    reader_sessions = [_session(user, mfa=False) for user in readers]
    target = next(a for a in substrate.accounts if a.type == "service")

    for round_number in range(ROUNDS):
        # Each approver gets requests of their own to approve (each needs one approval).
        assignments = [
            (
                session,
                submitted(
                    readers[0],
                    reviewed_vendor(
                        readers[0],
                        reviewer,
                        name=f"Burst{round_number}x{index}{session.username}",
                        slug=f"burst{round_number}x{index}{session.username}",
                    ),
                    target,
                ),
            )
            for session in approver_sessions
            for index in range(APPROVALS_PER_APPROVER)
        ]
        calls: list[Any] = []
        for session, access_request in assignments:
            url = web + reverse("approvals:request_approve", kwargs={"pk": access_request.pk})
            form = urlencode({"csrfmiddlewaretoken": session.csrf, "comment": "ok"}).encode()
            headers = {"Cookie": session.cookie(), "Referer": web + "/"}
            calls.append(("approve", session, access_request, url, form, headers))
        for number in range(WEBHOOKS):
            event = "ping" if number % 2 else "pull_request"
            calls.append(("webhook", event, f"burst-{round_number}-{number}"))
        for session in reader_sessions:
            calls.extend(("read", session) for _ in range(READS_PER_READER))
        assert len(calls) == 50

        start = threading.Barrier(len(calls))

        def fire(
            call: tuple[Any, ...], start: threading.Barrier = start
        ) -> tuple[tuple[Any, ...], Any]:
            start.wait(timeout=60)  # every request leaves at the same moment
            if call[0] == "approve":
                _, _, _, url, form, headers = call
                return call, _send(url, data=form, headers=headers)
            if call[0] == "webhook":
                return call, _webhook(web, call[1], call[2])
            return call, _send(web + "/", headers={"Cookie": call[1].cookie()})

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            answers = list(pool.map(fire, calls))

        failures: list[tuple[Any, ...]] = []
        for call, answer in answers:
            if call[0] == "approve":
                _, session, access_request, *_ = call
                expected = reverse("approvals:request_detail", kwargs={"pk": access_request.pk})
                if answer.status != 302 or answer.headers.get("Location") != expected:
                    failures.append((round_number, "approve", session.username, answer.status))
            elif call[0] == "webhook":
                event, reply = answer
                outcome = json.loads(reply.body).get("status") if reply.status < 500 else None
                wanted = (200, "pong") if event == "ping" else (202, "ignored")
                if (reply.status, outcome) != wanted:
                    failures.append((round_number, "webhook", event, reply.status, outcome))
            else:
                session = call[1]
                page = answer.body.decode(errors="replace")
                others = [n for n in (*READERS, "sam", "sue") if n != session.username]
                if (
                    answer.status != 200
                    or f'<span class="who">{session.username}' not in page
                    or any(f'<span class="who">{n}' in page for n in others)
                ):
                    failures.append((round_number, "read", session.username, answer.status))
        assert failures == [], failures

        # Every approval was recorded once, for the approver whose session sent it.
        for session, access_request in assignments:
            decided = Approval.objects.filter(access_request=access_request)
            assert [a.approver.username for a in decided] == [session.username]
            assert AccessRequest.objects.get(pk=access_request.pk).status != "submitted"

    # The two workers provision what was approved (both take work from the queue), and
    # nothing is left behind for the next test.
    wait_until(broker_idle, timeout=240, what="the workers to finish", log=stack.worker_log("main"))
    for name in ("main", "peer"):
        assert "provision_access_task" in stack.worker_log(name).read_text(), name


def test_the_key_links_rate_limit_counts_across_web_processes(
    stack: Stack, web: str, settings: Any
) -> None:
    # One client guessing links: the requests spread over the web processes, and the limit
    # holds for their sum, not for each process.
    codes = [
        _send(f"{web}/keys/{secrets.token_urlsafe(32)}/", headers={}).status
        for _ in range(settings.PORTAL_KEY_LINK_RATE + 1)
    ]
    assert codes[:-1] == [404] * settings.PORTAL_KEY_LINK_RATE
    assert codes[-1] == 429


def test_the_login_lockout_counts_across_web_processes(
    stack: Stack, web: str, make_user: Any, password: str
) -> None:
    make_user("victim")
    csrf = secrets.token_hex(16)

    def sign_in(secret: str) -> Answer:
        form = {"login": "victim", "password": secret, "csrfmiddlewaretoken": csrf}
        return _send(
            web + reverse("account_login"),
            data=urlencode(form).encode(),
            headers={"Cookie": f"csrftoken={csrf}"},
        )

    for attempt in range(5):
        assert sign_in(f"wrong-{attempt}").status == 200  # the form again, with an error
    locked = sign_in(password)
    assert locked.status != 302  # not signed in, although the password is right
    assert b"Too many failed login attempts" in locked.body
