"""Reviews falling due remind the vendor's owner and security (vendors/reminders.py): once per
due date, and once more when it is overdue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from tests.vendors.helpers import complete_review
from vendors import services
from vendors.models import SubprocessorReview, Vendor
from vendors.reminders import reviews_remind

pytestmark = pytest.mark.django_db
NOTHING = {"due": 0, "overdue": 0}


def due_in(review: SubprocessorReview, days: int) -> str:
    due = timezone.localdate() + timedelta(days=days)
    SubprocessorReview.objects.filter(pk=review.pk).update(next_review_due=due)
    return due.isoformat()


def run_pass(callbacks: Any) -> dict[str, int]:
    with callbacks(execute=True):
        return reviews_remind()


@pytest.fixture
def decided(approved_review, django_capture_on_commit_callbacks) -> SubprocessorReview:
    mail.outbox.clear()  # the decision's own notices
    return approved_review


def test_a_review_due_in_20_days_reminds_the_owner_and_security_once(
    decided, engineer, security, django_capture_on_commit_callbacks
):
    due = due_in(decided, 20)
    assert run_pass(django_capture_on_commit_callbacks) == {"due": 1, "overdue": 0}
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    assert sorted(m.to for m in mail.outbox) == [[engineer.email], [security.email]]
    for message in mail.outbox:
        assert message.subject == f"[Vendor access] Orbit CI has its next review due on {due}"
    decided.refresh_from_db()
    assert decided.due_reminded_for.isoformat() == due
    assert AuditEvent.objects.filter(action="review.due_reminded").count() == 1


def test_a_review_due_in_40_days_waits(decided, django_capture_on_commit_callbacks, settings):
    due_in(decided, 40)
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    settings.PORTAL_REVIEW_REMIND_DAYS = 45
    assert run_pass(django_capture_on_commit_callbacks) == {"due": 1, "overdue": 0}


def test_an_overdue_review_reminds_once_more_and_a_new_date_reminds_again(
    decided, django_capture_on_commit_callbacks
):
    due_in(decided, 0)  # due today: falling due, not overdue yet
    assert run_pass(django_capture_on_commit_callbacks) == {"due": 1, "overdue": 0}
    due = due_in(decided, -1)
    assert run_pass(django_capture_on_commit_callbacks) == {"due": 0, "overdue": 1}
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING
    overdue = [m for m in mail.outbox if "overdue" in m.subject]
    assert len(overdue) == 2  # the owner and security
    assert overdue[0].subject.endswith(f"Orbit CI is overdue for the review due on {due}")
    # Another date (say, a decision corrected by the admin) is reminded of again.
    due_in(decided, 10)
    assert run_pass(django_capture_on_commit_callbacks) == {"due": 1, "overdue": 0}


def test_only_the_latest_approved_review_of_an_active_vendor_counts(
    decided, vendor, engineer, security2, django_capture_on_commit_callbacks
):
    due_in(decided, 5)
    newer = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(newer, engineer)
    services.review_submit(review_id=newer.pk, actor=engineer)
    with django_capture_on_commit_callbacks(execute=True):
        services.review_decide(
            review_id=newer.pk, actor=security2, decision="approved", mfa_verified=True
        )
    # The newer review's date is months away: the older one's near date no longer counts.
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING

    due_in(newer, 5)
    Vendor.objects.filter(pk=vendor.pk).update(
        status=Vendor.Status.OFFBOARDED, offboarded_on=timezone.localdate()
    )
    assert run_pass(django_capture_on_commit_callbacks) == NOTHING


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_remind_of_a_due_review_once(make_user):
    import threading

    from django.db import connection

    from accessportal.roles import Role
    from tests.vendors.helpers import vendor_data

    assert connection.vendor == "postgresql"
    owner = make_user("erin")
    decider = make_user("sam", Role.SECURITY)
    vendor = services.vendor_create(actor=owner, data=vendor_data(owner))
    review = services.review_start(vendor_id=vendor.pk, actor=owner)
    complete_review(review, owner)
    services.review_submit(review_id=review.pk, actor=owner)
    services.review_decide(
        review_id=review.pk, actor=decider, decision="approved", mfa_verified=True
    )
    due_in(review, 20)
    mail.outbox.clear()
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def run() -> None:
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            results.append(reviews_remind())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r["due"] for r in results) == [0, 1]
    assert AuditEvent.objects.filter(action="review.due_reminded").count() == 1
    assert sorted(m.to for m in mail.outbox) == [[owner.email], [decider.email]]
