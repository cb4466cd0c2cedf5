"""One-time link tokens are masked in Django's log records and in gunicorn's access log."""

from __future__ import annotations

import logging
import runpy
import sys
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from django.utils.module_loading import import_string
from gunicorn.config import Config
from gunicorn.util import load_class

from accessportal.log_redaction import MASK, RedactKeyLinks, redact
from tests.processes import ROOT

TOKEN = "LvMhcc2CWOge4WctRjD-VKreljEb9mRbStAxTuVjjIU"


def test_redact_masks_the_token_of_every_link_and_nothing_else():
    text = f"GET /keys/{TOKEN}/ then http://portal/keys/{TOKEN}/ and /requests/12/"
    assert redact(text) == f"GET /keys/{MASK}/ then http://portal/keys/{MASK}/ and /requests/12/"


def test_the_filter_masks_formatted_messages_and_tracebacks():
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "Not Found: %s", (f"/keys/{TOKEN}/",), None
    )
    try:
        raise ValueError(f"/keys/{TOKEN}/")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert RedactKeyLinks().filter(record) is True
    formatted = logging.Formatter().format(record)
    assert TOKEN not in formatted
    assert f"Not Found: /keys/{MASK}/" in formatted


def test_the_settings_mask_tokens_on_the_console_handler():
    from django.conf import settings

    logging_config: dict[str, Any] = settings.LOGGING
    assert logging_config["handlers"]["console"]["filters"] == ["redact_key_links"]


def test_gunicorns_access_log_atoms_are_masked():
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    logger_class = config["logger_class"]
    if isinstance(logger_class, str):  # gunicorn takes the class or its dotted path
        logger_class = import_string(logger_class)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/keys/{TOKEN}/",
        "PATH_INFO": f"/keys/{TOKEN}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"http://127.0.0.1/keys/{TOKEN}/",
    }
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    request = SimpleNamespace(headers=[("REFERER", f"http://127.0.0.1/keys/{TOKEN}/")])
    logger = load_class(logger_class)(Config())
    atoms = logger.atoms(response, request, environ, timedelta(seconds=1))
    assert atoms["r"] == f"POST /keys/{MASK}/ HTTP/1.1"
    assert TOKEN not in repr(atoms)


def test_botocore_never_logs_below_info_whatever_the_root_level():
    """At DEBUG botocore logs response bodies, CreateAccessKey's secret among them."""
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("botocore.parsers").getEffectiveLevel() == logging.INFO
