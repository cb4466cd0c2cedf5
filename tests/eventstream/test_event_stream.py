"""The audit event stream against a real receiver on 127.0.0.1 (issue 19).

Real PostgreSQL, real HTTP, Celery eager; nothing mocked. The receiver checks every signature
the way the README tells a SIEM to; time-based retries are exercised by moving the endpoint's
next attempt back instead of waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from eventstream import services
from eventstream.models import EventDelivery, EventEndpoint, delivery_uuid
from eventstream.signals import DELIVER_TASK
from tests.eventstream.receiver import Receiver, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def _endpoint(actor: Any, receiver: Receiver, name: str = "SIEM") -> EventEndpoint:
    created = services.endpoint_create(actor=actor, mfa_verified=True, name=name, url=receiver.url)
    receiver.secret = created.secret.reveal()
    return created.endpoint


def _events(count: int, action: str = "test.ping") -> list[int]:
    """`count` audit events, each in its own transaction as the portal writes them."""
    sequences = []
    for number in range(count):
        with transaction.atomic():
            event = audit_record(
                actor=None, action=action, object_repr=f"ping {number}", after={"n": number}
            )
        sequences.append(event.sequence)
    return sequences


def _all_sequences() -> list[int]:
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))


def _due_now(endpoint: EventEndpoint) -> None:
    """As if the wait before the next retry had passed."""
    EventEndpoint.objects.filter(pk=endpoint.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_events_arrive_signed_in_order_once_each(security, receiver):
    endpoint = _endpoint(security, receiver)
    sequences = _events(3)

    assert services.events_deliver() == 4  # the endpoint's own creation, then the three
    assert services.events_deliver() == 0  # the cursor remembers

    accepted = receiver.accepted
    assert len(receiver.requests) == len(accepted) == 4
    creation = AuditEvent.objects.get(action="event_endpoint.create")
    assert [d.event["sequence"] for d in accepted] == [creation.sequence, *sequences]
    for delivery in accepted:
        assert verified(receiver.secret, delivery.headers, delivery.body)
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["X-Portal-Event"] == delivery.event["action"]
        assert delivery.delivery_id == str(delivery_uuid(endpoint.pk, delivery.event["sequence"]))
    last = AuditEvent.objects.get(sequence=sequences[-1])
    body = accepted[-1].event
    assert body["action"] == "test.ping"
    assert body["after"] == {"n": 2}
    assert body["object"]["repr"] == "ping 2"
    assert body["hash"] == last.hash
    assert body["prev_hash"] == accepted[-2].event["hash"]
    endpoint.refresh_from_db()
    assert endpoint.delivered_through == sequences[-1]
    assert endpoint.failures == 0
    assert not EventDelivery.objects.exists()  # rows only for events that needed a retry


def test_a_tampered_body_or_a_wrong_secret_does_not_verify(security, receiver):
    _endpoint(security, receiver)
    services.events_deliver()
    [delivery] = receiver.accepted
    assert verified(receiver.secret, delivery.headers, delivery.body)
    assert not verified(receiver.secret, delivery.headers, delivery.body + b" ")
    assert not verified("another-secret", delivery.headers, delivery.body)
    older = {
        **delivery.headers,
        "X-Portal-Timestamp": str(int(delivery.headers["X-Portal-Timestamp"]) - 1),
    }
    assert not verified(receiver.secret, older, delivery.body)


def test_a_failing_endpoint_is_retried_with_backoff_and_loses_nothing(security, receiver, settings):
    settings.PORTAL_EVENT_RETRY_SECONDS = 30
    settings.PORTAL_EVENT_MAX_ATTEMPTS = 8
    endpoint = _endpoint(security, receiver)
    receiver.fail_next = 3
    _events(4)

    waits = []
    for attempt in (1, 2, 3):
        before = timezone.now()
        assert services.events_deliver() == 0
        endpoint.refresh_from_db()
        assert endpoint.failures == attempt
        assert endpoint.last_error == "answered HTTP 500"
        assert endpoint.next_attempt_at is not None
        waits.append(round((endpoint.next_attempt_at - before).total_seconds()))
        # Not due yet: the next pass sends nothing.
        sent = len(receiver.requests)
        assert services.events_deliver() == 0
        assert len(receiver.requests) == sent
        _due_now(endpoint)
    assert waits == [30, 60, 120]

    assert services.events_deliver() == 5
    # Every attempt of the failing event carried the same delivery id; then all, in order.
    first = receiver.requests[0]
    assert [r.delivery_id for r in receiver.requests[:4]] == [first.delivery_id] * 4
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200, 200, 200, 200, 200]
    assert [d.event["sequence"] for d in receiver.accepted] == _all_sequences()
    row = EventDelivery.objects.get()
    assert row.status == EventDelivery.Status.DELIVERED
    assert row.attempts == 4
    assert str(row.delivery_id) == first.delivery_id
    endpoint.refresh_from_db()
    assert (endpoint.failures, endpoint.next_attempt_at) == (0, None)
    assert endpoint.delivered_through == _all_sequences()[-1]


def test_an_unreachable_endpoint_says_so_without_its_url(security, receiver, caplog):
    endpoint = _endpoint(security, receiver)
    receiver.stop()
    with caplog.at_level(logging.DEBUG):
        services.events_deliver()
    endpoint.refresh_from_db()
    assert endpoint.last_error.startswith("could not be reached")
    assert "127.0.0.1" not in endpoint.last_error
    assert receiver.path not in caplog.text


def test_after_the_last_attempt_a_dead_letter_then_security_sends_it_again(
    security, engineer, receiver, settings, caplog
):
    settings.PORTAL_EVENT_MAX_ATTEMPTS = 3
    endpoint = _endpoint(security, receiver)
    services.events_deliver()  # the creation event goes through first
    dead_sequence, *later = _events(3)
    receiver.fail_next = 3
    for _ in range(2):
        assert services.events_deliver() == 0
        _due_now(endpoint)
    with caplog.at_level(logging.WARNING):
        # The third failure makes it a dead letter, and the stream goes on at once.
        assert services.events_deliver() == 2
    dead = EventDelivery.objects.get()
    assert dead.sequence == dead_sequence
    assert (dead.status, dead.attempts) == (EventDelivery.Status.DEAD, 3)
    assert "dead letter" in caplog.text
    assert [d.event["sequence"] for d in receiver.accepted][-2:] == later
    endpoint.refresh_from_db()
    assert endpoint.delivered_through == later[-1]

    for actor, verified_session in ((security, False), (engineer, True)):
        with pytest.raises(PermissionDenied):
            services.delivery_redeliver(
                actor=actor, mfa_verified=verified_session, delivery_id=dead.pk
            )
    services.delivery_redeliver(actor=security, mfa_verified=True, delivery_id=dead.pk)
    with pytest.raises(ValidationError):  # queued already: not a dead letter any more
        services.delivery_redeliver(actor=security, mfa_verified=True, delivery_id=dead.pk)
    services.events_deliver()
    dead.refresh_from_db()
    assert dead.status == EventDelivery.Status.DELIVERED
    redelivered = [d for d in receiver.accepted if d.event["sequence"] == dead_sequence]
    assert [d.delivery_id for d in redelivered] == [str(dead.delivery_id)]
    # The redelivery's own audit row reached the receiver too.
    assert receiver.accepted[-1].event["action"] == "event_delivery.redeliver"
    # Every event of the log reached the receiver, once each (the dead letter once, late).
    got = sorted(d.event["sequence"] for d in receiver.accepted)
    assert got == _all_sequences()


def test_a_new_audit_row_triggers_a_pass_after_its_commit(
    security, receiver, django_capture_on_commit_callbacks
):
    # No active endpoint: nothing is queued.
    with django_capture_on_commit_callbacks() as callbacks:
        _events(1)
    assert not [c for c in callbacks if DELIVER_TASK in getattr(c, "args", ())]

    with django_capture_on_commit_callbacks(execute=True):
        _endpoint(security, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        [sequence] = _events(1)
    assert receiver.accepted[-1].event["sequence"] == sequence


def test_a_paused_endpoint_gets_what_it_missed_when_resumed(security, receiver):
    endpoint = _endpoint(security, receiver)
    services.events_deliver()
    services.endpoint_set_active(
        actor=security, mfa_verified=True, endpoint_id=endpoint.pk, active=False
    )
    _events(2)
    assert services.events_deliver() == 0
    services.endpoint_set_active(
        actor=security, mfa_verified=True, endpoint_id=endpoint.pk, active=True
    )
    services.events_deliver()
    assert [d.event["sequence"] for d in receiver.accepted] == _all_sequences()


def test_only_https_urls_and_distinct_names_are_accepted(security, receiver):
    _endpoint(security, receiver)
    for name, url in (
        ("Plain", "http://siem.example.com/collect"),
        ("Ftp", "ftp://siem.example.com/"),
        ("Spaces", "https://siem.example.com/a b"),
        ("siem", "https://siem.example.com/collect"),  # the name, whatever its case
    ):
        with pytest.raises(ValidationError):
            services.endpoint_create(actor=security, mfa_verified=True, name=name, url=url)
    with pytest.raises(PermissionDenied, match="second factor"):
        services.endpoint_create(
            actor=security, mfa_verified=False, name="X", url="https://siem.example.com/"
        )
    created = services.endpoint_create(
        actor=security, mfa_verified=True, name="Cloud", url="https://siem.example.com:8443/t"
    )
    assert created.endpoint.url_origin == "https://siem.example.com:8443"


def test_nothing_secret_in_any_event_audit_row_or_log(security, receiver, caplog):
    """The endpoint's secret and the token its URL carries appear nowhere the stream or the
    log could show them: not in a body, a header but the signature, an audit row or a log."""
    receiver.path = "/collect/tok3n-in-the-url-8a7f"
    with caplog.at_level(logging.DEBUG):
        endpoint = _endpoint(security, receiver)
        second = services.endpoint_create(
            actor=security, mfa_verified=True, name="Second", url=receiver.url
        )
        other = second.endpoint
        services.endpoint_set_active(
            actor=security, mfa_verified=True, endpoint_id=other.pk, active=False
        )
        receiver.fail_next = 1
        services.events_deliver()
        _due_now(endpoint)
        services.events_deliver()
        services.endpoint_delete(actor=security, mfa_verified=True, endpoint_id=other.pk)
        services.events_deliver()
    secrets_known = [receiver.secret, second.secret.reveal(), "tok3n-in-the-url-8a7f"]
    assert receiver.accepted
    for delivery in receiver.requests:
        shown = delivery.body.decode() + " ".join(
            f"{k}: {v}" for k, v in delivery.headers.items() if k != "X-Portal-Signature"
        )
        for secret in secrets_known:
            assert secret not in shown
    rows = " ".join(
        str(values) for values in AuditEvent.objects.values_list("object_repr", "before", "after")
    )
    for secret in secrets_known:
        assert secret not in rows
        assert secret not in caplog.text
        assert secret not in str(EventEndpoint.objects.values_list())
        assert secret not in str(EventDelivery.objects.values_list())


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_event_once_and_in_order(security, receiver, monkeypatch):
    # Here each commit would run a pass inline (eager Celery): the two workers do it instead.
    monkeypatch.setattr("eventstream.signals.enqueue_on_commit", lambda *args: None)
    endpoint = _endpoint(security, receiver)
    receiver.delay_seconds = 0.02
    _events(15)
    last = _all_sequences()[-1]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            # Each keeps running passes until the stream is caught up, so both contend for the
            # endpoint at every step.
            while EventEndpoint.objects.get(pk=endpoint.pk).delivered_through < last:
                services.endpoint_deliver(endpoint.pk)
        except Exception as error:  # noqa: BLE001 - reported below, from the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert [d.status for d in receiver.requests] == [200] * len(receiver.requests)
    assert [d.event["sequence"] for d in receiver.requests] == _all_sequences()
    assert len({d.delivery_id for d in receiver.requests}) == len(receiver.requests)


def test_rotating_the_key_ring_keeps_the_endpoints_working(security, receiver, settings):
    import io

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old]
    _endpoint(security, receiver)
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("reencrypt_key_secrets", stdout=out)
    assert "1 event stream endpoint" in out.getvalue()
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new]  # the old key dropped
    services.events_deliver()
    assert [d.status for d in receiver.requests] == [200]


def test_the_beat_runs_a_pass_every_minute(security, receiver, settings):
    from accessportal.effects import task_named
    from eventstream import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["events-deliver"]
    assert entry == {"task": DELIVER_TASK, "schedule": 60.0}
    assert task_named(DELIVER_TASK).name == DELIVER_TASK
    tasks.deliver_events()  # no endpoint: nothing to do
    _endpoint(security, receiver)
    tasks.deliver_events()
    assert len(receiver.accepted) == 1
