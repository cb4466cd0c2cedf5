"""Counting the AWS API calls that reach the emulator, and answering some with Throttling.

`CountingApp` is a WSGI layer in front of moto's own application: every HTTP request the server
receives passes through it, so a call boto3 retried is counted once per attempt, as AWS would
bill it against the request-rate quotas. Nothing here imports moto or boto3; the caller says how
an access key maps to its account (moto knows the keys it issued through AssumeRole).
"""

from __future__ import annotations

import io
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9]+)/[^/]+/[^/]+/([a-z0-9-]+)/")
THROTTLE_BODY = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>throttled</RequestId></ErrorResponse>"
)


@dataclass(frozen=True)
class Call:
    """One HTTP request to the emulator: the signed service, the API action, the access key,
    and the account a role ARN in the request names (AssumeRole's target), if any."""

    service: str
    action: str
    access_key: str
    role_account: str = ""


def _params(environ: dict[str, Any], body: bytes) -> dict[str, list[str]]:
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        for key, values in parse_qs(body.decode("utf-8", "replace")).items():
            params.setdefault(key, []).extend(values)
    return params


def request_call(environ: dict[str, Any]) -> Call:
    """The call an environ carries. Reads the body (IAM and STS put `Action` there) and puts
    it back, so the application behind still reads all of it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    key, service = (match.group(1), match.group(2)) if match else ("", "")
    params = _params(environ, body)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    # JSON protocols (Organizations) name the action in X-Amz-Target: "Service.Action".
    action = target.rpartition(".")[2] if target else (params.get("Action") or [""])[0]
    role_arn = (params.get("RoleArn") or [""])[0]
    parts = role_arn.split(":")
    role_account = parts[4] if len(parts) > 5 and parts[2] == "iam" else ""
    return Call(service=service, action=action, access_key=key, role_account=role_account)


@dataclass
class Tally:
    """What reached the server since the last reset."""

    by_action: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_account: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    errors: int = 0  # answers other than 2xx, the injected Throttling included

    @property
    def total(self) -> int:
        return sum(self.by_action.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "by_action": {
                f"{service}:{action}": n for (service, action), n in self.by_action.items()
            },
            "by_account": dict(self.by_account),
            "throttled": self.throttled,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        by_action: Counter[tuple[str, str]] = Counter()
        for key, n in data["by_action"].items():
            service, _, action = key.partition(":")
            by_action[(service, action)] = int(n)
        return cls(
            by_action=by_action,
            by_account=Counter({k: int(v) for k, v in data["by_account"].items()}),
            throttled=int(data["throttled"]),
            errors=int(data["errors"]),
        )

    def per_account(self, accounts: Iterable[str]) -> tuple[int, int]:
        """(fewest, most) calls made for one of `accounts`."""
        counts = [self.by_account.get(account, 0) for account in accounts]
        return (min(counts), max(counts)) if counts else (0, 0)


class CountingApp:
    """WSGI middleware counting each request by (service, action) and by account, and, when
    `throttle_every` is n > 0, answering every n-th request of `throttle_service` with IAM's
    Throttling error (HTTP 400) instead of passing it on.

    The account of a call is the role's account for AssumeRole (the account being entered),
    otherwise the account of the signing key (`account_of`). The server is threaded: the
    counts are kept under a lock."""

    def __init__(self, app: Any, account_of: Callable[[str], str]) -> None:
        self.app = app
        self.account_of = account_of
        self.throttle_every = 0
        self.throttle_service = "iam"
        self._lock = threading.Lock()
        self._seen_for_throttling = 0
        self._accounts: dict[str, str] = {}
        self.tally = Tally()

    def reset(self, *, throttle_every: int = 0) -> None:
        with self._lock:
            self.tally = Tally()
            self.throttle_every = throttle_every
            self._seen_for_throttling = 0

    def _throttle(self, call: Call) -> bool:
        if self.throttle_every <= 0 or call.service != self.throttle_service:
            return False
        self._seen_for_throttling += 1
        return self._seen_for_throttling % self.throttle_every == 0

    def _account(self, access_key: str) -> str:
        # moto's lookup walks every account's keys; a key never changes account, so it is
        # looked up once (the emulator's own lookup still runs for each request).
        if not access_key:
            return ""
        found = self._accounts.get(access_key)
        if found is None:
            found = self._accounts[access_key] = self.account_of(access_key)
        return found

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        call = request_call(environ)
        account = call.role_account or self._account(call.access_key)
        with self._lock:
            tally = self.tally
            tally.by_action[(call.service, call.action)] += 1
            tally.by_account[account] += 1
            throttle = self._throttle(call)
            if throttle:
                tally.throttled += 1
                tally.errors += 1
        if throttle:
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(THROTTLE_BODY)))],
            )
            return [THROTTLE_BODY]

        def counting_start_response(status: str, headers: Any, *args: Any) -> Any:
            if not status.startswith("2"):
                with self._lock:
                    tally.errors += 1
            return start_response(status, headers, *args)

        return self.app(environ, counting_start_response)
