"""Posting a message to a Slack incoming webhook: the HTTP call, its limits and its errors.

The notifications app decides what to say and when; this module only delivers. The webhook's
URL embeds its token, so neither the errors raised here nor their tracebacks contain it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 10
# Plain http is allowed only to this machine: a local fake in tests and development. A real
# webhook URL carries its token and must not cross a network in clear.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SlackDeliveryError(ConnectionError):
    """Slack could not be reached or answered with a server error; a retry may succeed."""


class SlackRefused(Exception):
    """Slack answered with a client error (a revoked webhook answers 403/404): retrying will
    not help."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Slack answered HTTP {status}.")
        self.status = status


def webhook_url_allowed(url: str) -> bool:
    """https anywhere; plain http only to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Slack webhooks never redirect; following one would send the message elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def webhook_post(url: str, text: str) -> None:
    """Posts `text` to the webhook at `url` (checked by `webhook_url_allowed` first).

    Raises SlackDeliveryError on a network error, a timeout, 408, 429 or a 5xx answer, and
    SlackRefused on any other error answer. A URL `webhook_url_allowed` refuses is the caller's
    mistake (it checks first, to say so in its own words): ValueError, nothing sent.
    """
    if not webhook_url_allowed(url):
        raise ValueError("The Slack webhook URL must be https (http only to this machine).")
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked by webhook_url_allowed
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in (408, 429):
            raise SlackDeliveryError(f"Slack answered HTTP {exc.code}.") from None
        raise SlackRefused(exc.code) from None
    except OSError as exc:  # URLError, timeouts, refused connections
        reason = getattr(exc, "reason", None) or type(exc).__name__
        # `from None`: the chained exception's traceback could show the URL.
        raise SlackDeliveryError(f"Slack could not be reached ({reason}).") from None
