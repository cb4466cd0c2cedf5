"""After a grant's pull request merges, the request page shows the commands still to run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.roles import Role
from audit.models import AuditEvent
from fulfilment import services as fulfilment
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task
from tests.factories import force_login_with_mfa
from tests.fulfilment.helpers import approved, status

pytestmark = pytest.mark.django_db


def page(client, user, r) -> str:
    client.force_login(user)
    return client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()


def test_commands_are_stored_with_the_pull_request_and_shown_once_merged(
    github, engineer, security, make_user, substrate, client
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    assert row.commands, "a role-create grant has commands to run"
    shells = [c["shell"] for c in row.commands]
    assert shells[0].startswith("substrate role create ")
    pull = github.pulls[row.number]
    for shell in shells:  # the same commands the pull request body lists
        assert shell in (pull.body or "")
    assert row.body == pull.body

    before = page(client, engineer, r)
    assert 'data-testid="commands-pending"' not in before  # not merged yet

    # The repository moves on after the merge: the page still shows what was proposed.
    github.merge(row.number)
    github.commit_files({"unrelated.txt": b"later change\n"})
    assert pull_requests_sync() == 1
    assert status(r) == "active"

    shown = page(client, engineer, r)
    assert 'data-testid="commands-pending"' in shown
    assert "Still to run" in shown
    for shell in shells:
        assert shell.replace("'", "&#x27;") in shown
    assert "I ran these commands" not in shown  # only security records it

    done_url = reverse("approvals:request_commands_done", kwargs={"pk": r.pk})
    client.force_login(engineer)
    assert client.post(done_url, {"pr": row.pk}).status_code == 403

    assert "I ran these commands" in page(client, security, r)
    client.post(done_url, {"pr": row.pk})  # signed in without the second factor: refused
    row.refresh_from_db()
    assert row.commands_pending
    force_login_with_mfa(client, security)
    response = client.post(done_url, {"pr": row.pk})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.commands_done_by == security
    assert not row.commands_pending
    after = page(client, engineer, r)
    assert 'data-testid="commands-pending"' not in after
    assert "Run, recorded by sam" in after
    event = AuditEvent.objects.get(action="pullrequest.commands_done", object_id=str(r.pk))
    assert event.actor_id == security.pk

    # Recording twice is refused, not audited twice.
    client.post(done_url, {"pr": row.pk})
    assert AuditEvent.objects.filter(action="pullrequest.commands_done").count() == 1


def test_local_merge_shows_the_commands_too(
    local_repo, engineer, security, make_user, substrate, client
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    fulfilment_sync.local_pull_request_merge(pr_id=row.pk, actor=security, mfa_verified=True)
    assert status(r) == "active"
    shown = page(client, make_user("ari", Role.AUDITORS), r)
    assert 'data-testid="commands-pending"' in shown
    assert "I ran these commands" not in shown  # auditors read only
    assert fulfilment.request_progress(r)["pull_request"]["commands_pending"] is True
