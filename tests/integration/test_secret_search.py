"""The secret search finds what is there: a secret planted in each kind of place, in the
encodings it would travel in, is reported in exactly those places. Without this, "found
nowhere" in the key flow could mean "never looked"."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import pytest
from django.core.mail import EmailMessage, get_connection
from django_celery_results.models import TaskResult

from tests.integration.helpers import broker
from tests.integration.secret_places import encodings, kept_everywhere, places_holding

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
PLANTED = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYPLANTEDKEY"  # shaped like an AWS secret key
NEVER = "nEVERwrittenANYWHERExQ9/Zt+LmKpWs3dRf7Y"


def test_a_planted_secret_is_found_in_every_kind_of_place(stack, services, caplog):
    caplog.set_level(logging.INFO)
    client = broker()
    # Redis: inside a base64 message body at an odd offset, as a Celery message would carry
    # it, and in a hash field.
    body = base64.b64encode(json.dumps([[1], {"x": PLANTED}]).encode())
    client.set("planted:message", b'{"body": "' + body + b'"}')
    client.hset("planted:hash", "field", PLANTED)
    try:
        TaskResult.objects.create(task_id="planted", status="SUCCESS", result=json.dumps(PLANTED))
        (stack.logs / "planted.log").write_text(f"GET /callback?key={quote(PLANTED, safe='')}\n")
        connection = get_connection(
            "django.core.mail.backends.filebased.EmailBackend", file_path=str(stack.mail)
        )
        # Plain ASCII, and a body whose accents make the mail encode it.
        connection.send_messages(
            [
                EmailMessage("Key", f"Your key: {PLANTED}\n", to=["v@example.com"]),
                EmailMessage("Key", f"Clé: {PLANTED} " + "é" * 80, to=["v@example.com"]),
            ]
        )
        logging.getLogger("planted").info(
            "json: %s", json.dumps({"k": PLANTED}).replace("/", "\\/")
        )

        places = kept_everywhere(stack, services, caplog.text)
        found = places_holding(PLANTED, places)
    finally:
        client.delete("planted:message", "planted:hash")

    assert "redis db0 string planted:message" in found
    assert "redis db0 hash planted:hash" in found
    assert "postgresql" in found
    assert "celery task results" in found
    assert "log planted.log" in found
    assert len([name for name in found if name.startswith("mail ")]) == 2
    assert "captured log of this process" in found
    assert places_holding(NEVER, places) == []


def test_encodings_cover_every_base64_alignment():
    forms = encodings(PLANTED)
    for prefix in (b"", b"a", b"ab"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            blob = encode(prefix + PLANTED.encode() + b"tail")
            assert any(form in blob for form in forms), (prefix, encode)
    assert not any(form in base64.b64encode(NEVER.encode()) for form in forms)
