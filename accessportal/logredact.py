"""Keeps one-time key links out of logs: their token is the credential to an access key.

The path `/keys/<token>/` is rewritten to `/keys/[redacted]/` in Django's log records (the
`django.request` warnings for 404/429 answers name the path) and in gunicorn's access log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornBaseLogger

KEY_LINK = re.compile(r"(/keys/)[^/\s?#\"']+")
REDACTED = r"\1[redacted]"


def redact_key_links(text: str) -> str:
    """`text` with the token of every one-time key link path replaced."""
    return KEY_LINK.sub(REDACTED, text)


class RedactKeyLinksFilter(logging.Filter):
    """A logging filter (for handlers and loggers) that redacts key link tokens in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_key_links(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class GunicornLogger(GunicornBaseLogger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger, with key link tokens redacted from the access log's request line,
    path and referrer."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "f"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_key_links(atoms[name])
        return atoms
