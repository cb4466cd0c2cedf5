"""Messages queued by the release before the apps split carry the old task names: the new
workers accept them and do the same work (nothing queued at an upgrade is lost)."""

from __future__ import annotations

import pytest
from django.core import mail

from accessportal.celery import app
from accessportal.effects import task_named
from accessportal.tasks import LEGACY_TASK_NAMES
from tests.factories import draft_request


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY_TASK_NAMES.items()))
def test_every_old_name_is_registered_and_forwards_to_a_task_of_the_same_name(old, new):
    app.loader.import_default_modules()
    assert old in app.tasks, f"the worker would reject {old} as unregistered"
    assert new in app.tasks
    assert old.rpartition(".")[2] == new.rpartition(".")[2]  # the same task, moved
    assert task_named(new).name == new  # the forwarder finds it by its path
    assert old.startswith("approvals.")
    assert not new.startswith("approvals.")


def test_a_notice_queued_under_its_old_name_is_still_mailed(engineer, vendor):
    access_request = draft_request(engineer, vendor)
    mail.outbox.clear()
    # Tests run tasks eagerly: the forwarder queues the new task, which sends at once.
    app.tasks["approvals.notification_tasks.notice_email_task"].delay(
        access_request.pk, "approved", "requester", None, ""
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [engineer.email]
    assert f"#{access_request.pk}" in mail.outbox[0].subject
