"""The verify benchmark's call counter: what it counts is every request that reached the server."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bench.awscalls import THROTTLE_BODY, CountingApp, Tally, request_call

pytestmark = pytest.mark.pure

AUTH = (
    "AWS4-HMAC-SHA256 Credential={key}/20261207/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


def _environ(service: str, key: str, body: str = "", **extra: str) -> dict[str, Any]:
    data = body.encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_AUTHORIZATION": AUTH.format(key=key, service=service),
        "wsgi.input": io.BytesIO(data),
        **extra,
    }


class _App:
    """Stands in for moto: answers 200, or 404 for GetRole of a missing role, and keeps the
    bodies it read (the counter must leave them whole)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.bodies.append(body)
        status = "404 Not Found" if b"RoleName=Missing" in body else "200 OK"
        start_response(status, [("Content-Length", "2")])
        return [b"ok"]


def _call(app: CountingApp, environ: dict[str, Any]) -> tuple[str, bytes]:
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers, *exc: statuses.append(status)))
    return statuses[0], body


def test_the_action_comes_from_the_body_the_query_or_the_target_header():
    form = request_call(_environ("iam", "ASIAKEY1", "Action=GetRole&RoleName=X&Version=1"))
    assert (form.service, form.action, form.access_key) == ("iam", "GetRole", "ASIAKEY1")

    query = _environ("iam", "ASIAKEY1", QUERY_STRING="Action=ListRoles&MaxItems=100")
    assert request_call(query).action == "ListRoles"

    target = _environ(
        "organizations",
        "testing",
        "{}",
        CONTENT_TYPE="application/x-amz-json-1.1",
        HTTP_X_AMZ_TARGET="AWSOrganizationsV20161128.ListAccounts",
    )
    assert request_call(target).action == "ListAccounts"


def test_assume_role_counts_for_the_account_it_enters():
    body = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FAuditor"
    call = request_call(_environ("sts", "testing", body))
    assert call.role_account == "210987654321"
    assert request_call(_environ("sts", "testing", "Action=GetCallerIdentity")).role_account == ""


def test_every_request_is_counted_by_action_and_account_and_its_body_left_whole():
    inner = _App()
    lookups: list[str] = []
    accounts = {"ASIAKEY1": "111111111111", "ASIAKEY2": "222222222222"}

    def account_of(key: str) -> str:
        lookups.append(key)
        return accounts.get(key, "123456789012")

    app = CountingApp(inner, account_of)

    for key, role in [("ASIAKEY1", "A"), ("ASIAKEY1", "Missing"), ("ASIAKEY2", "A")]:
        _call(app, _environ("iam", key, f"Action=GetRole&RoleName={role}"))
    _call(
        app,
        _environ("sts", "testing", "Action=AssumeRole&RoleArn=arn:aws:iam::222222222222:role/R"),
    )

    tally = app.tally
    assert tally.by_action == {("iam", "GetRole"): 3, ("sts", "AssumeRole"): 1}
    assert tally.total == 4
    assert tally.by_account == {"111111111111": 2, "222222222222": 2}
    assert tally.errors == 1  # the 404
    assert tally.throttled == 0
    assert tally.per_account(["111111111111", "222222222222", "333333333333"]) == (0, 2)
    assert inner.bodies[0] == b"Action=GetRole&RoleName=A"
    assert lookups == ["ASIAKEY1", "ASIAKEY2"]  # a key's account is looked up once


def test_every_nth_request_of_the_service_is_answered_throttling_and_not_passed_on():
    inner = _App()
    app = CountingApp(inner, lambda key: "111111111111")
    app.reset(throttle_every=3)

    answers = [_call(app, _environ("iam", "K", "Action=GetRole&RoleName=A")) for _ in range(7)]
    _call(app, _environ("sts", "testing", "Action=AssumeRole&RoleArn=arn:aws:iam::1:role/R"))

    throttled = [n for n, (status, body) in enumerate(answers, 1) if status.startswith("400")]
    assert throttled == [3, 6]
    assert all(answers[n - 1][1] == THROTTLE_BODY for n in throttled)
    assert len(inner.bodies) == 6  # 5 IAM calls passed on, and the STS call (never throttled)
    assert app.tally.throttled == 2
    assert app.tally.by_action[("iam", "GetRole")] == 7  # a throttled attempt is a call too

    app.reset()
    assert app.tally == Tally()
    _call(app, _environ("iam", "K", "Action=GetRole&RoleName=A"))
    assert app.tally.throttled == 0


def test_the_tally_travels_as_json():
    tally = Tally()
    tally.by_action[("iam", "GetRole")] = 4
    tally.by_action[("sts", "AssumeRole")] = 1
    tally.by_account["111111111111"] = 5
    tally.throttled = 1
    tally.errors = 2
    assert Tally.from_json(tally.as_json()) == tally
