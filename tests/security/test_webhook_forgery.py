"""The GitHub webhook against forgery and replay, beyond tests/fulfilment/test_webhooks.py.

The signature covers the body only: `X-GitHub-Delivery` is not signed, so an attacker who has
captured one genuine delivery can send it again under a fresh delivery id. That must never
change a request a second time, nor move it backwards; and a body changed after signing (the
attacker flipping "merged") must be refused like any forgery.
"""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from fulfilment.models import WebhookDelivery
from tests.fulfilment import conftest as fulfilment_fixtures
from tests.fulfilment.helpers import activations, closed_payload, deliver, sign, status

# The webhook tests' fixtures: a fake GitHub with a request whose pull request is open.
github = fulfilment_fixtures.github
substrate = fulfilment_fixtures.substrate
secret = fulfilment_fixtures.secret
pr_open = fulfilment_fixtures.pr_open

pytestmark = pytest.mark.django_db


NEAR_MISSES = {
    "upper-case": lambda s: s.upper().replace("SHA256=", "sha256="),  # same digest, other case
    "longer": lambda s: s + "00",
    "shorter": lambda s: s[:-2],
    "padded": lambda s: " " + s,
    "sha1": lambda s: s.replace("sha256=", "sha1="),
}


def test_a_body_changed_after_signing_or_a_near_miss_signature_is_refused(client, secret, pr_open):
    r, row = pr_open
    genuine = closed_payload(row.number, merged=False)
    tampered = json.loads(genuine)
    tampered["pull_request"]["merged"] = True
    tampered["pull_request"]["merge_commit_sha"] = "b" * 40
    merged = closed_payload(row.number, merged=True)
    events = AuditEvent.objects.count()

    forgeries = {"tampered body": (json.dumps(tampered).encode(), sign(genuine))}
    forgeries.update({name: (merged, mangle(sign(merged))) for name, mangle in NEAR_MISSES.items()})
    for name, (body, signature) in forgeries.items():
        response = deliver(client, body, signature=signature)
        assert response.status_code == 403, name

    assert status(r) == "pr_open"
    assert AuditEvent.objects.count() == events
    assert WebhookDelivery.objects.count() == 0


def test_captured_deliveries_replayed_under_new_ids_change_nothing(client, secret, pr_open):
    """Replays of the merge, and of an earlier close (GitHub sends "closed" when a pull request
    is closed, then "closed" with merged=true when it is reopened and merged), do nothing."""
    r, row = pr_open
    closed_before = closed_payload(row.number, merged=False)
    merged = closed_payload(row.number, merged=True)
    assert deliver(client, merged, delivery="genuine").json() == {"status": "applied"}
    events = AuditEvent.objects.count()

    replayed_merge = deliver(client, merged, delivery="attacker-chosen")
    replayed_close = deliver(client, closed_before, delivery="replayed-close")

    assert (replayed_merge.status_code, replayed_merge.json()) == (200, {"status": "unchanged"})
    assert replayed_close.status_code == 200
    assert AuditEvent.objects.count() == events
    assert activations(r) == 1
    assert status(r) == "active"
    row.refresh_from_db()
    assert row.state == "merged"
