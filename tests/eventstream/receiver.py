"""A SIEM's collector on 127.0.0.1, for the event stream's tests: it checks each delivery's
signature as the README tells receivers to, and can be told to fail."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The README's check, written out independently of the portal's code."""
    timestamp = headers.get("X-Portal-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(
        "sha256=" + expected.hexdigest(), headers.get("X-Portal-Signature", "")
    )


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Portal-Delivery"]


@dataclass
class Receiver:
    """Answers 200 to a correctly signed delivery, 401 to any other, and 500 to the next
    `fail_next` requests whatever they hold. Every request is kept, in arrival order."""

    secret: str = ""
    fail_next: int = 0
    delay_seconds: float = 0.0
    path: str = "/collect"
    requests: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def accepted(self) -> list[Delivery]:
        return [r for r in self.requests if r.status == 200]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                with receiver._lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        status = 500
                    elif verified(receiver.secret, headers, body):
                        status = 200
                    else:
                        status = 401
                    receiver.requests.append(Delivery(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
