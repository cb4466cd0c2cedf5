"""Nothing waits forever (approvals/reminders.py): reminders of pending requests and extension
asks, their lapse, and two workers running the pass at once.

The clock is moved by dating the submission (or the ask) back, as the other time-based tests
of the project do.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accessportal.effects import task_named
from approvals import decisions
from approvals import requests as services
from approvals.models import LIFECYCLE, AccessRequest
from approvals.reminders import requests_remind
from audit.models import AuditEvent
from audit.services import audit_verify
from tests.approvals.helpers import submitted as submitted_request
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db
NOTHING = {"lapsed": 0, "extensions_lapsed": 0, "reminded": 0, "extensions_reminded": 0}


def submitted(engineer: Any) -> AccessRequest:
    """A submitted request of a vendor with no review (nobody can approve it yet)."""
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    return submitted_request(vendor, engineer)


def submitted_ago(r: AccessRequest, **delta: float) -> None:
    AccessRequest.objects.filter(pk=r.pk).update(submitted_at=timezone.now() - timedelta(**delta))


@pytest.fixture
def pending(engineer, security, account, django_capture_on_commit_callbacks) -> AccessRequest:
    r = submitted(engineer)
    assert r.status == "submitted"
    mail.outbox.clear()
    return r


def run_pass(callbacks: Any) -> dict[str, int]:
    with callbacks(execute=True):
        return requests_remind()


# --- Pending requests ----------------------------------------------------------------------------


def test_a_request_waiting_47_hours_gets_no_reminder(pending, django_capture_on_commit_callbacks):
    submitted_ago(pending, hours=47)
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    assert mail.outbox == []
    pending.refresh_from_db()
    assert pending.reminded_at is None


def test_a_request_waiting_49_hours_reminds_security_once_per_interval(
    pending, security, django_capture_on_commit_callbacks
):
    submitted_ago(pending, hours=49)
    assert run_pass(django_capture_on_commit_callbacks)["reminded"] == 1
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING  # the second pass: nothing
    (message,) = mail.outbox
    assert message.to == [security.email]
    assert message.subject.endswith(f"Request #{pending.pk} for Orbit CI still awaits a decision")
    pending.refresh_from_db()
    assert pending.status == "submitted"
    assert pending.reminded_at is not None
    event = AuditEvent.objects.get(action="request.reminded", object_id=str(pending.pk))
    assert event.actor is None

    # Another interval without a decision: one more reminder, not before.
    AccessRequest.objects.filter(pk=pending.pk).update(
        reminded_at=timezone.now() - timedelta(hours=47)
    )
    assert run_pass(django_capture_on_commit_callbacks)["reminded"] == 0
    AccessRequest.objects.filter(pk=pending.pk).update(
        reminded_at=timezone.now() - timedelta(hours=49)
    )
    assert run_pass(django_capture_on_commit_callbacks)["reminded"] == 1
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(action="request.reminded").count() == 2
    assert audit_verify().ok


def test_the_interval_is_a_setting(pending, settings, django_capture_on_commit_callbacks):
    settings.PORTAL_PENDING_REMIND_HOURS = 4
    submitted_ago(pending, hours=5)
    assert run_pass(django_capture_on_commit_callbacks)["reminded"] == 1


def test_after_14_days_the_request_lapses_and_the_requester_is_told(
    pending, engineer, django_capture_on_commit_callbacks
):
    submitted_ago(pending, days=15)
    assert run_pass(django_capture_on_commit_callbacks) == {**NOTHING, "lapsed": 1}
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    pending.refresh_from_db()
    assert pending.status == "lapsed"
    assert pending.get_status_display() == "Lapsed: nobody decided in time"
    (message,) = mail.outbox  # told once, and not reminded as well
    assert message.to == [engineer.email]
    assert message.subject.endswith("lapsed: nobody decided in time")
    assert "duplicate the request" in message.body
    event = AuditEvent.objects.get(action="request.lapse", object_id=str(pending.pk))
    assert (event.before, event.actor) == ({"status": "submitted"}, None)
    assert audit_verify().ok

    # Final, like a rejection; a duplicate starts again as a draft.
    assert "lapsed" in LIFECYCLE.group("final")
    assert not LIFECYCLE.table["lapsed"]
    copy = services.request_duplicate(request_id=pending.pk, actor=engineer)
    assert (copy.status, copy.duplicated_from_id) == ("draft", pending.pk)


def test_13_days_reminds_and_does_not_lapse(pending, django_capture_on_commit_callbacks):
    submitted_ago(pending, days=13)
    assert run_pass(django_capture_on_commit_callbacks) == {**NOTHING, "reminded": 1}
    assert AccessRequest.objects.get(pk=pending.pk).status == "submitted"


def test_decided_and_draft_requests_are_left_alone(
    pending, engineer, django_capture_on_commit_callbacks
):
    submitted_ago(pending, days=30)
    AccessRequest.objects.filter(pk=pending.pk).update(status="rejected")
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    assert AccessRequest.objects.get(pk=pending.pk).status == "rejected"


# --- Extension asks ------------------------------------------------------------------------------


@pytest.fixture
def asked(pending, engineer, django_capture_on_commit_callbacks) -> AccessRequest:
    """An active grant whose requester asked for a later end date."""
    AccessRequest.objects.filter(pk=pending.pk).update(status="active")
    r = AccessRequest.objects.get(pk=pending.pk)
    assert r.expires_on is not None
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        decisions.request_extension_ask(
            request_id=r.pk,
            actor=engineer,
            until=r.expires_on + timedelta(days=10),
            reason="The migration runs late.",
        )
    r.refresh_from_db()
    assert r.extension_asked_at is not None
    assert r.extension_asked_at >= before  # the ask records when it was made
    mail.outbox.clear()
    return r


def asked_ago(r: AccessRequest, **delta: float) -> None:
    AccessRequest.objects.filter(pk=r.pk).update(
        extension_asked_at=timezone.now() - timedelta(**delta)
    )


def test_an_extension_ask_is_reminded_after_the_interval_once(
    asked, security, django_capture_on_commit_callbacks
):
    asked_ago(asked, hours=47)
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    asked_ago(asked, hours=49)
    assert run_pass(django_capture_on_commit_callbacks) == {**NOTHING, "extensions_reminded": 1}
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    (message,) = mail.outbox
    assert message.to == [security.email]
    assert message.subject.endswith("still awaits a decision on its extension")
    assert AuditEvent.objects.filter(action="request.extension_reminded").count() == 1


def test_an_extension_ask_lapses_after_7_days_and_the_grant_keeps_its_end(
    asked, engineer, django_capture_on_commit_callbacks
):
    expires_on = asked.expires_on
    asked_ago(asked, days=8)
    assert run_pass(django_capture_on_commit_callbacks) == {**NOTHING, "extensions_lapsed": 1}
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    asked.refresh_from_db()
    assert (asked.extension_until, asked.extension_reason) == (None, "")
    assert (asked.status, asked.expires_on, asked.extensions_granted) == ("active", expires_on, 0)
    (message,) = mail.outbox
    assert message.to == [engineer.email]
    assert message.subject.endswith("was not extended: nobody decided in time")
    event = AuditEvent.objects.get(action="request.extension_lapse", object_id=str(asked.pk))
    assert (event.before or {})["reason"] == "The migration runs late."
    assert audit_verify().ok

    # Asked again: the clock starts anew, from the new ask.
    with django_capture_on_commit_callbacks(execute=True):
        decisions.request_extension_ask(
            request_id=asked.pk,
            actor=engineer,
            until=expires_on + timedelta(days=5),
            reason="Still late.",
        )
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING


# --- Operators and the beat ----------------------------------------------------------------------


def test_the_management_command_runs_the_same_passes(pending, django_capture_on_commit_callbacks):
    submitted_ago(pending, hours=49)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_reminders", stdout=out)
    assert "Requests: 0 lapsed, 1 reminded" in out.getvalue()
    assert "Reviews: 0 falling due reminded, 0 overdue reminded." in out.getvalue()
    assert len(mail.outbox) == 1


def test_the_passes_are_on_the_beat_hourly() -> None:
    schedule: dict[str, dict[str, Any]] = django_settings.CELERY_BEAT_SCHEDULE
    for name in ("requests-remind", "reviews-remind"):
        entry = schedule[name]
        assert entry["schedule"] == 3600.0
        assert task_named(str(entry["task"])).name == entry["task"]


# --- Two workers at once -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_send_exactly_one_reminder(make_user):
    from accessportal.roles import Role
    from inventory.models import AwsAccount

    assert connection.vendor == "postgresql"
    engineer = make_user("erin")
    make_user("sam", Role.SECURITY)
    AwsAccount.objects.create(
        account_id="111122223333",
        name="a",
        account_type="service",
        domain="payments",
        environment="staging",
        quality="alpha",
        status="active",
    )
    submitted_ago(submitted(engineer), hours=49)
    mail.outbox.clear()
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def run() -> None:
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            results.append(requests_remind())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2
    assert sum(r["reminded"] for r in results) == 1
    assert AuditEvent.objects.filter(action="request.reminded").count() == 1
    assert [m.subject.endswith("still awaits a decision") for m in mail.outbox] == [True]
    assert audit_verify().ok


def test_a_worker_process_registers_the_reminder_and_new_notice_tasks(subprocess_env):
    """The beat names tasks by their dotted path: a worker must find them by itself."""
    import subprocess
    import sys

    from accessportal import effects
    from tests.processes import ROOT

    code = (
        "import django; django.setup(); from accessportal.celery import app; "
        "app.loader.import_default_modules(); print(' '.join(sorted(app.tasks)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    registered = set(result.stdout.split())
    expected = {
        "approvals.tasks.requests_remind_task",
        "vendors.tasks.reviews_remind_task",
        effects.VENDOR_NOTICE_EMAIL_TASK,
        effects.VENDOR_NOTICE_SLACK_TASK,
        effects.KEY_RECIPIENT_SLACK_TASK,
        effects.EXTERNAL_ACCESS_NOTICE_TASK,
        effects.EXTERNAL_ACCESS_SLACK_TASK,
    }
    assert expected <= registered
