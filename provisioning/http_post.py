"""Posting to a URL someone configured (a Slack webhook, a SIEM's event endpoint): the rules
every such URL follows and the one HTTP call.

Callers decide what to send and when; this module only delivers, with the same limits for all:
https anywhere, plain http only to this machine, no redirects followed, a timeout, and errors
that never contain the URL (a webhook URL often embeds its token) nor chain a traceback that
would show it.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_SECONDS = 10
# Plain http is allowed only to this machine: a local fake in tests and development. A real
# URL may carry a token, and what is posted must not cross a network in clear.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Enough of an answer to finish the exchange; nobody reads the rest.
_ANSWER_BYTES = 1024


class PostUnreachable(ConnectionError):
    """The receiver could not be reached, or timed out. `reason` names no URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"could not be reached ({reason})")
        self.reason = reason


class PostAnswered(Exception):
    """The receiver answered with a status other than 2xx (a redirect included: none is
    followed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"answered HTTP {status}")
        self.status = status

    @property
    def temporary(self) -> bool:
        """A server error, a timeout or rate limit: a later attempt may succeed."""
        return self.status >= 500 or self.status in (408, 429)


def url_allowed(url: str) -> bool:
    """https anywhere; plain http only to this machine."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would send the body (and its signature) somewhere nobody configured."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> int:
    """POSTs `body` to `url` and returns the 2xx status of the answer.

    Raises PostAnswered on any other status, PostUnreachable on a network error or a timeout.
    A URL `url_allowed` refuses is the caller's mistake (it checks first, to say so in its own
    words): ValueError, nothing sent.
    """
    if not url_allowed(url):
        raise ValueError("The URL must be https (http only to this machine).")
    request = urllib.request.Request(  # noqa: S310 - scheme checked by url_allowed
        url, data=body, method="POST", headers=dict(headers)
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(_ANSWER_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        # `from None`: the chained exception's traceback could show the URL.
        raise PostAnswered(exc.code) from None
    except OSError as exc:  # URLError, timeouts, refused connections
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise PostUnreachable(str(reason)) from None
    except http.client.HTTPException as exc:  # a malformed answer (BadStatusLine, IncompleteRead)
        raise PostUnreachable(type(exc).__name__) from None
    if not 200 <= status < 300:
        raise PostAnswered(status)
    return status
