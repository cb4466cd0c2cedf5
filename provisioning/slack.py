"""Posting a message to a Slack incoming webhook: the HTTP call, its limits and its errors.

The notifications app decides what to say and when; this module only delivers, through
`provisioning.http_post` (https only, no redirects, a timeout). The webhook's URL embeds its
token, so neither the errors raised here nor their tracebacks contain it.
"""

from __future__ import annotations

import json

from provisioning import http_post

TIMEOUT_SECONDS = 10
# Kept here for the callers that read it from this module; the rule lives in http_post.
LOOPBACK_HOSTS = http_post.LOOPBACK_HOSTS


class SlackDeliveryError(ConnectionError):
    """Slack could not be reached or answered with a server error; a retry may succeed."""


class SlackRefused(Exception):
    """Slack answered with a client error (a revoked webhook answers 403/404): retrying will
    not help."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Slack answered HTTP {status}.")
        self.status = status


def webhook_url_allowed(url: str) -> bool:
    """https anywhere; plain http only to this machine (`http_post.url_allowed`)."""
    return http_post.url_allowed(url)


def webhook_post(url: str, text: str) -> None:
    """Posts `text` to the webhook at `url` (checked by `webhook_url_allowed` first).

    Raises SlackDeliveryError on a network error, a timeout, 408, 429 or a 5xx answer, and
    SlackRefused on any other error answer. A URL `webhook_url_allowed` refuses is the caller's
    mistake (it checks first, to say so in its own words): ValueError, nothing sent.
    """
    if not webhook_url_allowed(url):
        raise ValueError("The Slack webhook URL must be https (http only to this machine).")
    body = json.dumps({"text": text}).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    try:
        http_post.post(url, body, headers=headers, timeout=TIMEOUT_SECONDS)
    except http_post.PostAnswered as exc:
        if exc.temporary:
            raise SlackDeliveryError(f"Slack answered HTTP {exc.status}.") from None
        raise SlackRefused(exc.status) from None
    except http_post.PostUnreachable as exc:
        raise SlackDeliveryError(f"Slack could not be reached ({exc.reason}).") from None
