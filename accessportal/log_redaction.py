"""One-time link tokens never reach a log line (DESIGN.md section 6).

The token in `/keys/<token>/` is the credential that reveals an access key's secret: whoever
reads it in a log before the vendor opens the link could reveal the key instead. Mail scanners
fetch the link (a GET) days before the vendor does, so the access log would hold live tokens.
`redact` masks the token wherever such a path appears; `RedactKeyLinks` applies it to Django's
log records (settings.LOGGING) and `GunicornLogger` (gunicorn.conf.py) to every field of the
access log: the request line, the path and the referrer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornBaseLogger

# The token is 43 characters today (keys.services.TOKEN_PATTERN); any run of token characters
# after /keys/ is masked, so a shorter or longer guess is not logged either.
_KEY_LINK = re.compile(r"(/keys/)[A-Za-z0-9_%-]+")
MASK = "[redacted]"


def redact(text: str) -> str:
    """`text` with the token of every one-time link path masked."""
    return _KEY_LINK.sub(rf"\g<1>{MASK}", text)


class RedactKeyLinks(logging.Filter):
    """Masks one-time link tokens in a record's message (and its traceback text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatted here, once, so that the handler prints the masked text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class GunicornLogger(GunicornBaseLogger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger, with one-time link tokens masked in every access-log field."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
