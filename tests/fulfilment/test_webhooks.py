"""Pull request outcomes from GitHub: the signed, de-duplicated webhook and the polling fallback."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from fulfilment.models import WebhookDelivery
from fulfilment.sync import CLOSED_NOTE, pull_requests_sync
from fulfilment.tasks import pull_requests_sync_task
from fulfilment.webhooks import MAX_BODY_BYTES
from tests.fulfilment.helpers import (
    SECRET,
    URL,
    actions,
    activations,
    closed_payload,
    deliver,
    sign,
    status,
)

pytestmark = pytest.mark.django_db


def test_the_route_is_named():
    assert reverse("approvals:webhook_github") == URL


def test_a_signed_merged_delivery_activates_the_request(client, secret, pr_open, caplog):
    r, row = pr_open
    body = closed_payload(row.number, merged=True)
    with caplog.at_level(logging.DEBUG):
        response = deliver(client, body)

    assert (response.status_code, response.json()) == (200, {"status": "applied"})
    assert status(r) == "active"
    row.refresh_from_db()
    assert (row.state, row.merge_sha) == ("merged", "a" * 40)
    assert actions(r)[-2:] == ["request.pr_open", "request.activate"]
    merge = AuditEvent.objects.get(action="pullrequest.merge", object_id=str(r.pk))
    assert (merge.after or {}).get("source") == "webhook"
    assert merge.actor_id is None
    assert SECRET not in caplog.text
    assert body.decode() not in caplog.text
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("case", ["wrong", "missing", "unset", "other-key", "no-prefix"])
def test_an_unsigned_or_badly_signed_delivery_is_refused(client, settings, secret, pr_open, case):
    r, row = pr_open
    body = closed_payload(row.number, merged=True)
    signature: str | None = {
        "wrong": "sha256=" + "0" * 64,
        "missing": None,
        "unset": sign(body, ""),  # what an empty secret would accept
        "other-key": sign(body, "another-secret"),
        "no-prefix": sign(body).removeprefix("sha256="),
    }[case]
    if case == "unset":
        settings.FORGE_WEBHOOK_SECRET = ""
    events_before = AuditEvent.objects.count()

    response = deliver(client, body, signature=signature)

    assert response.status_code == 403
    assert status(r) == "pr_open"
    row.refresh_from_db()
    assert row.state == "open"
    assert AuditEvent.objects.count() == events_before
    assert WebhookDelivery.objects.count() == 0


def test_a_replayed_delivery_is_a_duplicate_and_changes_nothing(client, secret, pr_open):
    r, row = pr_open
    body = closed_payload(row.number, merged=True)
    assert deliver(client, body, delivery="d-1").json() == {"status": "applied"}
    events = AuditEvent.objects.count()

    again = deliver(client, body, delivery="d-1")

    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert AuditEvent.objects.count() == events
    assert activations(r) == 1
    assert WebhookDelivery.objects.filter(delivery_id="d-1").count() == 1


def test_closed_without_merging_goes_back_to_security_with_a_note(client, secret, pr_open, github):
    r, row = pr_open
    github.close(row.number)

    response = deliver(client, closed_payload(row.number, merged=False))

    assert response.json() == {"status": "applied"}
    assert status(r) == "failed"
    row.refresh_from_db()
    assert (row.state, row.last_error) == ("closed", CLOSED_NOTE)
    event = AuditEvent.objects.filter(action="request.provision_fail", object_id=str(r.pk)).get()
    assert (event.after or {}).get("error") == CLOSED_NOTE
    assert AuditEvent.objects.filter(action="pullrequest.close", object_id=str(r.pk)).exists()
    # The failed request can be retried by security: FAILED -> APPROVED is allowed.
    from approvals.models import TRANSITIONS

    assert "approved" in TRANSITIONS["failed"]


def test_a_pull_request_of_another_repository_is_ignored(client, secret, pr_open):
    r, row = pr_open
    body = closed_payload(row.number, merged=True, repository="someone/else")

    response = deliver(client, body)

    assert (response.status_code, response.json()) == (202, {"status": "ignored"})
    assert status(r) == "pr_open"
    row.refresh_from_db()
    assert row.state == "open"


def test_other_actions_and_unknown_numbers_are_ignored(client, secret, pr_open):
    r, row = pr_open
    opened = json.loads(closed_payload(row.number, merged=True))
    opened["action"] = "synchronize"
    assert deliver(client, json.dumps(opened).encode()).status_code == 202
    assert deliver(client, closed_payload(row.number + 100, merged=True)).status_code == 202
    assert deliver(client, b"{}", event="push").status_code == 202
    assert status(r) == "pr_open"


def test_ping_answers_pong(client, secret):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    response = deliver(client, body, event="ping")
    assert (response.status_code, response.json()) == (200, {"status": "pong"})


def test_malformed_deliveries_are_bad_requests(client, secret):
    assert deliver(client, b"not json").status_code == 400
    body = b"{}"
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(body)},
    )
    assert response.status_code == 400  # no delivery id


def test_an_oversize_body_is_refused_before_anything_else(client, secret):
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"
    response = deliver(client, body, event="ping")
    assert response.status_code == 413
    assert WebhookDelivery.objects.count() == 0


def test_only_post_is_allowed(client, secret):
    assert client.get(URL).status_code == 405


# --- Polling --------------------------------------------------------------------------------


def test_polling_picks_up_a_merge_on_github(github, pr_open):
    r, row = pr_open
    assert pull_requests_sync() == 0  # still open: nothing to do
    assert status(r) == "pr_open"

    github.merge(row.number)
    pull_requests_sync_task.delay()

    assert status(r) == "active"
    row.refresh_from_db()
    assert row.state == "merged"
    event = AuditEvent.objects.get(action="pullrequest.merge", object_id=str(r.pk))
    assert (event.after or {}).get("source") == "poll"
    assert pull_requests_sync() == 0  # nothing open any more
    assert activations(r) == 1


def test_polling_picks_up_a_close_without_merge(github, pr_open):
    r, row = pr_open
    github.close(row.number)
    assert pull_requests_sync() == 1
    assert status(r) == "failed"
    row.refresh_from_db()
    assert row.last_error == CLOSED_NOTE


def test_polling_survives_a_forge_error(github, pr_open):
    r, _row = pr_open
    github.fail_next(502, method="GET", path_contains="/pulls/")
    assert pull_requests_sync() == 0
    assert status(r) == "pr_open"


def test_webhook_then_poll_make_one_transition(client, secret, github, pr_open):
    r, row = pr_open
    github.merge(row.number)
    assert deliver(client, closed_payload(row.number, merged=True)).json()["status"] == "applied"
    assert pull_requests_sync() == 0
    assert activations(r) == 1
    assert AuditEvent.objects.filter(action="pullrequest.merge", object_id=str(r.pk)).count() == 1


def test_poll_then_webhook_make_one_transition(client, secret, github, pr_open):
    r, row = pr_open
    github.merge(row.number)
    assert pull_requests_sync() == 1

    response = deliver(client, closed_payload(row.number, merged=True))

    assert (response.status_code, response.json()) == (200, {"status": "unchanged"})
    assert status(r) == "active"
    assert activations(r) == 1


def test_the_poll_runs_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["pull-requests-sync"]
    assert entry == {
        "task": "fulfilment.tasks.pull_requests_sync_task",
        "schedule": 300.0,
    }
