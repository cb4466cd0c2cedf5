"""Approval to active through the real processes: a Celery worker opens the pull request on the
fake GitHub, gunicorn serves the request's progress and takes GitHub's signed merge webhook.

Faults (issue 7): forge 5xx, primary and secondary rate limits, and duplicate deliveries racing
on two workers. Each ends with exactly one pull request for the request.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from dulwich.objects import Commit
from dulwich.repo import Repo

from accessportal.roles import Role
from fulfilment.models import PullRequest
from fulfilment.tasks import provision_access_task
from tests.integration.helpers import (
    actions,
    approve,
    broker_idle,
    get_json,
    get_page,
    pulls_for,
    status,
)
from tests.processes import wait_until
from tests.stack import Stack, kill

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def open_row(stack: Stack, access_request, worker: str = "main") -> PullRequest:  # type: ignore[no-untyped-def]
    return wait_until(
        lambda: PullRequest.objects.filter(access_request=access_request, state="open").first(),
        timeout=60,
        what="the worker to open the pull request",
        log=stack.worker_log(worker),
    )


def settled(stack: Stack) -> None:
    wait_until(broker_idle, timeout=60, what="the broker to be idle", log=stack.worker_log("main"))


def files_of(stack: Stack, sha: str) -> set[str]:
    with Repo(str(stack.github.repo_path)) as repo:
        commit = repo[sha.encode()]
        assert isinstance(commit, Commit)
        return {
            e.path.decode()
            for e in repo.object_store.iter_tree_contents(commit.tree)
            if e.path is not None
        }


def test_approval_opens_one_pull_request_and_the_merge_webhook_activates(
    stack, worker, web, substrate, make_user, client
):
    r = approve(make_user, substrate, "Orbit CI")
    row = open_row(stack, r)
    settled(stack)

    (pull,) = pulls_for(stack.github, r)
    assert pull.head == f"vendor-access/req-{r.pk}-orbit-ci"
    assert (pull.base, pull.state) == ("main", "open")
    head = stack.github.branch_sha(pull.head)
    assert head is not None
    base_files = files_of(stack, stack.github.branch_sha("main") or "")
    added = files_of(stack, head) - base_files
    assert "policies/orbit-ci.assume-role-policy.json" in added
    assert (row.number, row.head_sha, row.branch) == (pull.number, head, pull.head)
    assert stack.github.branch_sha("main") != head  # never pushed to the default branch
    # The worker sets the portal's approval status on that head (SOC2.md section 3 rule 7).
    posted = wait_until(
        lambda: stack.github.commit_status(head, "vendor-access-portal/approval"),
        timeout=60,
        what="the approval status on the pull request's head",
        log=stack.worker_log("main"),
    )
    assert posted["state"] == "success"
    assert posted["target_url"].endswith(reverse("approvals:request_detail", kwargs={"pk": r.pk}))

    # The requester's page, served by gunicorn, shows the pull request open.
    client.force_login(r.requester)
    progress_path = reverse("approvals:request_progress", kwargs={"pk": r.pk})
    code, progress = get_json(web, progress_path, client)
    assert code == 200
    assert progress["step"] == "pull_request_open"
    assert progress["pull_request"]["number"] == pull.number
    code, page = get_page(web, reverse("approvals:request_detail", kwargs={"pk": r.pk}), client)
    assert code == 200
    assert (
        f'href="{row.url}" rel="noopener noreferrer">Pull request #{pull.number}</a>'
        in page.decode()
    )
    assert f"<code>{pull.head}</code>" in page.decode()

    # Security merges on GitHub; GitHub's signed webhook reaches gunicorn.
    stack.github.merge(pull.number)
    assert stack.github.deliveries[-1][1] == 200
    assert status(r) == "active"
    code, progress = get_json(web, progress_path, client)
    assert (code, progress["step"]) == (200, "active")
    assert actions(r)[-4:] == [
        "request.approve",
        "request.provision",
        "request.pr_open",
        "request.activate",
    ]
    row.refresh_from_db()
    assert row.state == "merged"


def test_a_webhook_signed_with_another_secret_changes_nothing(
    stack, worker, web, substrate, make_user
):
    r = approve(make_user, substrate, "Forged Hooks")
    row = open_row(stack, r)
    settled(stack)
    (pull,) = pulls_for(stack.github, r)
    stack.github.webhook_secret = "not-the-secret"
    try:
        stack.github.merge(pull.number)
    finally:
        stack.github.webhook_secret = stack.env["FORGE_WEBHOOK_SECRET"]
    assert stack.github.deliveries[-1][1] == 403
    assert status(r) == "pr_open"
    row.refresh_from_db()
    assert row.state == "open"


def test_forge_server_errors_are_retried_into_one_pull_request(stack, worker, substrate, make_user):
    stack.github.fail_next(502, method="POST", path_contains="/pulls", count=2)
    r = approve(make_user, substrate, "Flaky Forge")
    row = open_row(stack, r)
    settled(stack)

    assert len(pulls_for(stack.github, r)) == 1
    assert PullRequest.objects.filter(access_request=r).count() == 1
    assert (row.attempts, row.last_error) == (3, "")
    assert status(r) == "pr_open"
    log = stack.all_worker_logs()
    assert "Retry in 1.0s" in log
    assert "Retry in 2.0s" in log


def test_rate_limits_wait_for_githubs_hint_into_one_pull_request(
    stack, worker, substrate, make_user
):
    stack.github.rate_limit_next(secondary=True, retry_after=1)
    stack.github.rate_limit_next(retry_after=1)
    r = approve(make_user, substrate, "Rate Limited")
    row = open_row(stack, r)
    settled(stack)

    assert len(pulls_for(stack.github, r)) == 1
    assert row.attempts == 3
    assert status(r) == "pr_open"
    assert actions(r).count("request.pr_open") == 1


def test_duplicate_deliveries_racing_on_two_workers_open_one_pull_request(
    stack, worker, start_worker, substrate, make_user
):
    second = start_worker("second")
    r = approve(make_user, substrate, "Twice Delivered")  # enqueues the first delivery
    # The same message again (same task id) and a plain duplicate, as a broker redelivery
    # and a double click would send them, while the first may be running.
    same = provision_access_task.apply_async((r.pk,), task_id="duplicate-delivery-id")
    provision_access_task.apply_async((r.pk,), task_id=same.id)
    provision_access_task.delay(r.pk)
    open_row(stack, r)
    settled(stack)
    kill(second)  # idle: nothing to lose, and quicker than a warm shutdown

    assert len(pulls_for(stack.github, r)) == 1
    rows = PullRequest.objects.filter(access_request=r)
    assert [row.state for row in rows] == ["open"]
    assert status(r) == "pr_open"
    assert actions(r).count("request.provision") == 1
    assert actions(r).count("request.pr_open") == 1
    logs = stack.all_worker_logs()
    assert (
        logs.count(f"[{same.id}] received") >= 2
    )  # both copies ran (a slow run may be redelivered once more)


def test_requester_of_another_request_cannot_read_its_progress(
    stack, worker, web, substrate, make_user, client
):
    r = approve(make_user, substrate, "Private Progress")
    open_row(stack, r)
    settled(stack)
    client.force_login(make_user("mallory"))
    code, _ = get_json(web, reverse("approvals:request_progress", kwargs={"pk": r.pk}), client)
    assert code in (403, 404)
    client.force_login(make_user("ari", Role.AUDITORS))
    code, progress = get_json(
        web, reverse("approvals:request_progress", kwargs={"pk": r.pk}), client
    )
    assert (code, progress["step"]) == (200, "pull_request_open")
