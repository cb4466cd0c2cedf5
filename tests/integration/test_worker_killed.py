"""A worker killed (SIGKILL) in the middle of provisioning: Redis redelivers the unacknowledged
task to the next worker, which finds the branch and the pull request the first one made.

Its own module: the module-wide worker of the other flow tests would take the redelivery.
"""

from __future__ import annotations

import re

import pytest

from fulfilment.models import PullRequest
from tests.integration.helpers import actions, approve, broker, broker_idle, pulls_for, status
from tests.processes import wait_until
from tests.stack import kill

TASK = "fulfilment.tasks.provision_access_task"


def provision_task_ids(log_text: str) -> set[str]:
    """Ids of the provisioning tasks a worker's log says it received."""
    return set(re.findall(rf"{re.escape(TASK)}\[([0-9a-f-]+)\] received", log_text))


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_a_worker_killed_after_github_created_the_pull_request_leaves_exactly_one(
    stack, start_worker, substrate, make_user
):
    # GitHub creates the pull request, but its answer never reaches the worker: killed first.
    held = stack.github.hold_next(method="POST", path_contains="/pulls")
    doomed = start_worker("doomed")
    r = approve(make_user, substrate, "Killed Midway")
    try:
        assert held.arrived.wait(timeout=60), stack.worker_log("doomed").read_text()
        kill(doomed)
    finally:
        held.release()

    (pull,) = pulls_for(stack.github, r)  # created on GitHub; the portal never heard of it
    row = PullRequest.objects.get(access_request=r)
    assert (row.state, row.number) == ("pending", None)
    assert status(r) == "provisioning"
    assert broker().hlen("unacked") == 1  # delivered, never acknowledged

    start_worker("successor")
    row = wait_until(
        lambda: PullRequest.objects.filter(access_request=r, state="open").first(),
        timeout=60,
        what="the redelivered task to find the pull request",
        log=stack.worker_log("successor"),
    )
    wait_until(broker_idle, timeout=60, what="the broker to be idle")

    assert pulls_for(stack.github, r) == [pull]
    assert (row.number, row.branch) == (pull.number, pull.head)
    assert row.head_sha == stack.github.branch_sha(pull.head)
    assert status(r) == "pr_open"
    assert actions(r).count("request.pr_open") == 1
    # The very message the killed worker took, redelivered by Redis.
    killed_ids = provision_task_ids(stack.worker_log("doomed").read_text())
    assert len(killed_ids) == 1
    assert killed_ids <= provision_task_ids(stack.worker_log("successor").read_text())
