"""The AWS emulator of the verify benchmark: moto's server in a process of its own.

`python bench/emulator.py PORT` serves moto on 127.0.0.1:PORT behind `CountingApp`. In its own
process the emulator does not compete with the code being measured for one interpreter lock,
as AWS does not. A few paths under `/_bench/` never reach moto:

- `GET /_bench/tally`: what reached the server since the last reset, as JSON;
- `POST /_bench/reset` `{"throttle_every": n}`: zeroes the counts, then answers every n-th IAM
  request with Throttling (0: none);
- `POST /_bench/roles` `{"management": id, "accounts": [...], ...}`: writes the benchmark's
  roles into each account's IAM, straight into moto's backend (as moto itself writes the
  OrganizationAccountAccessRole when an account is created): 22,000 roles over HTTP would
  take minutes and measure nothing of the portal's.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.awscalls import CountingApp

CONTROL = "/_bench/"


def _trust(principal: str, external_id: str = "") -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def seed_roles(spec: dict[str, Any]) -> int:
    """In each account: the audit role with its read policy, the vendor's grant role (trusted
    with the external id, its inline policy named after the vendor) and `others` roles trusted
    by the management account. Returns the roles written."""
    from moto.iam.models import iam_backends

    in_org = _trust(f"arn:aws:iam::{spec['management']}:root")
    written = 0
    for account_id in spec["accounts"]:
        iam = iam_backends[account_id]["global"]

        def role(name: str, trust: str, iam: Any = iam) -> None:
            iam.create_role(
                role_name=name,
                assume_role_policy_document=trust,
                path="/",
                permissions_boundary=None,
                description="",
                tags=[],
                max_session_duration="3600",
            )

        role(spec["audit_role"], in_org)
        iam.put_role_policy(spec["audit_role"], "Read", json.dumps(spec["audit_policy"]))
        role(spec["grant_role"], _trust(spec["vendor_principal"], spec["external_id"]))
        iam.put_role_policy(spec["grant_role"], spec["vendor"], json.dumps(spec["inline"]))
        for name in spec["others"]:
            role(name, in_org)
        written += 2 + len(spec["others"])
    return written


class Control:
    """The `/_bench/` paths in front of the counting layer."""

    def __init__(self, counting: CountingApp) -> None:
        self.counting = counting

    def _answer(self, start_response: Any, data: Any) -> list[bytes]:
        body = json.dumps(data).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL):
            return self.counting(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        command = path[len(CONTROL) :]
        if command == "tally":
            return self._answer(start_response, self.counting.tally.as_json())
        if command == "reset":
            self.counting.reset(throttle_every=int(body.get("throttle_every", 0)))
            return self._answer(start_response, {"ok": True})
        if command == "roles":
            return self._answer(start_response, {"roles": seed_roles(body)})
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]


def main() -> None:
    from moto.iam.models import get_account_id_from
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    counting = CountingApp(DomainDispatcherApplication(create_backend_app), get_account_id_from)
    port = int(sys.argv[1])
    server = make_server(
        "127.0.0.1", port, Control(counting), True, request_handler=MotoRequestHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
