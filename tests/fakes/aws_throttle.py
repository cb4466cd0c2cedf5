"""A tiny HTTP proxy in front of the AWS emulator that injects AWS's own faults.

The portal's processes point `AWS_ENDPOINT_URL` here; every request is forwarded unchanged to
the emulator, except:

* `throttle(count, action=...)`: the next `count` matching IAM calls answer what AWS answers
  when it throttles (400, query-protocol XML, code `Throttling`) without reaching the emulator;
* `hold(action)`: the next matching call reaches the emulator (the key is created there), but
  its answer waits for `Hold.release()`, so a test can kill the caller in between.

The AWS action is read from the form body (IAM speaks the query protocol), the service from the
SigV4 credential scope. `calls` records (service, action, outcome) for the assertions, and
`secrets_seen` every secret access key that AWS handed out through the proxy: the values a
test then searches the portal's storage for.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")
THROTTLE_BODY = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
    b"<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)
_SECRET = re.compile(rb"<SecretAccessKey>([^<]+)</SecretAccessKey>")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Hold:
    """An AWS call answered only after `release()`; `arrived` is set once the emulator has
    answered it (the action has happened)."""

    action: str
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class _Throttle:
    remaining: int
    service: str
    action: str | None


class AwsFaultProxy:
    """Use as a context manager; `url` is what AWS_ENDPOINT_URL should be."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.calls: list[tuple[str, str, str]] = []
        self.secrets_seen: list[str] = []
        self._throttles: list[_Throttle] = []
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for hold in self._holds:
                hold.release()
        self._server.shutdown()
        self._server.server_close()

    # --- controls --------------------------------------------------------------------------

    def throttle(self, count: int, *, service: str = "iam", action: str | None = None) -> None:
        """The next `count` calls of `service` (of `action` only, if given) are throttled."""
        with self._lock:
            self._throttles.append(_Throttle(count, service, action))

    def hold(self, action: str) -> Hold:
        with self._lock:
            hold = Hold(action)
            self._holds.append(hold)
            return hold

    def actions(self, outcome: str | None = None) -> Iterator[str]:
        """The actions called so far, in order (only those with `outcome`, if given)."""
        return (a for _, a, o in list(self.calls) if outcome in (None, o))

    # --- internals -------------------------------------------------------------------------

    def _decide(self, service: str, action: str) -> tuple[str, Hold | None]:
        with self._lock:
            for throttle in self._throttles:
                if throttle.service == service and throttle.action in (None, action):
                    throttle.remaining -= 1
                    if throttle.remaining <= 0:
                        self._throttles.remove(throttle)
                    return "throttled", None
            for hold in self._holds:
                if hold.action == action:
                    self._holds.remove(hold)
                    return "held", hold
        return "forwarded", None

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: `calls` records what matters

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scope = _SCOPE.search(self.headers.get("Authorization", ""))
                service = scope.group(1) if scope else ""
                action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
                outcome, hold = proxy._decide(service, action)
                proxy.calls.append((service, action, outcome))
                if outcome == "throttled":
                    self._answer(400, [("Content-Type", "text/xml")], THROTTLE_BODY)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                status, answer_headers, answer = proxy._forward(
                    self.command, self.path, headers, body
                )
                proxy.secrets_seen.extend(m.decode() for m in _SECRET.findall(answer))
                if hold is not None:
                    hold.arrived.set()
                    hold.released.wait(timeout=120)
                self._answer(status, answer_headers, answer)

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller is gone (killed while the answer was held)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        return Handler
