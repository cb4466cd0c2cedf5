"""The AWS emulator (moto's server) in this process, on a free loopback port, for tests that
read or change several accounts' IAM over real HTTP (nothing of boto3 mocked).

Failures are made by the emulator itself: AccessDenied through moto's IAM policy enforcement
(process-global, so `Enforced` switches it on only around a read and always off again), and
Throttling through a tiny WSGI layer in front of moto's own application, for the accounts in
`THROTTLED`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.iam.models import get_account_id_from
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from provisioning.aws import SeedAccount, aws_client, organization_seed
from tests.services import free_port

MANAGEMENT = "123456789012"  # moto's default account: the credentials' own account
READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
}


def trust(principal: str, external_id: str = "") -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": [principal]},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def post_moto_api(endpoint: str, path: str, body: bytes = b"") -> None:
    request = urllib.request.Request(
        f"{endpoint}{path}", data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


class WrappedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI application can be wrapped (for injected errors)."""

    def __init__(self, port: int, wrap: Callable[[Any], Any]) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._wrap = wrap

    def _server_entry(self) -> None:
        app = self._wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


THROTTLED: set[str] = set()  # account ids whose IAM calls the server answers with Throttling
_THROTTLE_BODY = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>throttled</RequestId></ErrorResponse>"
)
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/[^/]+/[^/]+/([a-z0-9-]+)/")


def throttling(app: Any) -> Any:
    """Answers Throttling to IAM calls signed with a key of a throttled account (moto maps
    the keys it issued through AssumeRole to their account)."""

    def throttling_app(environ: dict[str, Any], start_response: Any) -> Any:
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match and match.group(2) == "iam" and get_account_id_from(match.group(1)) in THROTTLED:
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(_THROTTLE_BODY)))],
            )
            return [_THROTTLE_BODY]
        return app(environ, start_response)

    return throttling_app


@contextlib.contextmanager
def emulator_endpoint(settings: Any, *, managed_policies: bool = False) -> Iterator[str]:
    """A fresh emulator for one test, the portal's settings pointed at it. With
    `managed_policies`, AWS's managed policies exist in every account (as on AWS), which
    makes each account's first IAM call slower."""
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true" if managed_policies else "false"
    server = WrappedMotoServer(free_port(), throttling)
    server.start()
    host, port = server.get_host_and_port()
    settings.AWS_ENDPOINT_URL = f"http://{host}:{port}"
    settings.AWS_AUDIT_ROLE_NAME = "Auditor"
    settings.AWS_AUDIT_ROLE_PATH = "/"
    settings.AWS_AUDIT_ENTRY_ROLE_ARN = ""
    post_moto_api(settings.AWS_ENDPOINT_URL, "/moto-api/reset")
    try:
        yield settings.AWS_ENDPOINT_URL
    finally:
        THROTTLED.clear()
        post_moto_api(settings.AWS_ENDPOINT_URL, "/moto-api/reset")
        server.stop()
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous


def admin_iam(account_id: str) -> Any:
    """IAM in a member account through the role AWS Organizations creates there."""
    return aws_client(
        "iam", role_arn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
    )


def auditor_role(iam: Any, policy: dict[str, Any] = READ_ONLY) -> None:
    iam.create_role(
        RoleName="Auditor",
        AssumeRolePolicyDocument=json.dumps(trust(f"arn:aws:iam::{MANAGEMENT}:root")),
    )
    iam.put_role_policy(RoleName="Auditor", PolicyName="Read", PolicyDocument=json.dumps(policy))


def organization(count: int) -> list[str]:
    """`count` member accounts, each with an Auditor role; their ids in creation order."""
    ids = organization_seed(
        SeedAccount(name=f"member{n}", email=f"member{n}@example.com", tags={})
        for n in range(count)
    )
    accounts = list(ids.values())
    for account_id in accounts:
        auditor_role(admin_iam(account_id))
    return accounts


class Enforced:
    """The portal's credentials as an IAM user of the management account, with moto's IAM
    policy enforcement on (its placeholder keys would be rejected once it is)."""

    def __init__(self, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.endpoint = endpoint
        self.monkeypatch = monkeypatch

    def portal_user(self, statements: list[dict[str, Any]]) -> str:
        iam = aws_client("iam")
        iam.create_user(UserName="portal")
        iam.put_user_policy(
            UserName="portal",
            PolicyName="portal",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName="portal")["AccessKey"]
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        self.monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        self.monkeypatch.delenv("AWS_PROFILE", raising=False)
        return str(key["SecretAccessKey"])

    def __enter__(self) -> Enforced:
        post_moto_api(self.endpoint, "/moto-api/reset-auth", b"0")
        return self

    def __exit__(self, *exc: object) -> None:
        # Enforcement is process-global in moto: never leave it on for the next test.
        post_moto_api(self.endpoint, "/moto-api/reset-auth", b"inf")
