"""The portal's approval status on the head of every pull request it opens or regenerates
(SOC2.md section 3 rule 7: a merge that bypasses the portal is blocked by branch protection
requiring this status). Fake GitHub and fake GitLab, which validate statuses as the real APIs do.
"""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.urls import reverse

from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import revocation
from fulfilment import services as fulfilment
from fulfilment.models import PullRequest
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task, pull_request_status_task, revoke_access_task
from provisioning.forges import (
    CommitState,
    ForgePermanentError,
    ForgeTemporaryError,
    GitHubForge,
    GitLabForge,
)
from tests.fulfilment import test_conflicts as conflict_tests
from tests.fulfilment import test_gitlab as gitlab_tests
from tests.fulfilment.helpers import TOKEN, approved, status, tree_paths

gitlab = gitlab_tests.gitlab

pytestmark = pytest.mark.django_db
CONTEXT = "vendor-access-portal/approval"


def page(r: AccessRequest, settings) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "approvals:request_detail", kwargs={"pk": r.pk}
    )


def opened(r: AccessRequest, capture) -> PullRequest:
    """Provisions `r` as approval does, running what waits for the commit (the status task)."""
    with capture(execute=True):
        provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    return PullRequest.objects.get(access_request=r, purpose="grant")


# --- GitHub ------------------------------------------------------------------------------------


def test_an_opened_pull_request_head_carries_the_approval_status(
    github, engineer, security, make_user, substrate, settings, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    row = opened(r, django_capture_on_commit_callbacks)

    head = github.branch_sha(row.branch)
    assert head
    assert row.head_sha == head
    posted = github.commit_status(head, CONTEXT)
    assert posted is not None, github.statuses
    assert posted["state"] == "success"
    assert posted["description"] == f"Approved in the portal: request #{r.pk}, 1 approval"
    assert posted["target_url"] == page(r, settings)
    assert posted["target_url"].startswith(settings.PORTAL_BASE_URL.rstrip("/") + "/")
    assert row.status_sha == head
    assert row.last_error == ""
    [event] = AuditEvent.objects.filter(action="pullrequest.status", object_id=str(r.pk))
    assert (event.after or {})["head_sha"] == head

    # A duplicate message (or the poll) for the same head posts nothing more.
    pull_request_status_task.delay(row.pk)
    assert pull_requests_sync() == 0
    assert len(github.statuses[head]) == 1


def test_the_context_is_a_setting(
    github, engineer, security, make_user, substrate, settings, django_capture_on_commit_callbacks
):
    settings.FORGE_STATUS_CONTEXT = "acme/vendor-approval"
    r = approved(engineer, security, make_user, substrate)
    row = opened(r, django_capture_on_commit_callbacks)
    assert github.commit_status(row.head_sha, "acme/vendor-approval") is not None
    assert github.commit_status(row.head_sha, CONTEXT) is None


def test_a_regenerated_pull_request_gets_the_status_on_its_new_head(
    github, engineer, security, make_user, substrate, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = conflict_tests.auditor_grant(engineer, security, make_user)
    row = PullRequest.objects.get(access_request=r)
    old_head = row.head_sha
    assert github.commit_status(old_head, CONTEXT) is not None

    main = github.branch_sha("main") or ""
    edited = conflict_tests.someone_else_edits(
        tree_paths(github.repo_path, main).get(conflict_tests.AUDITOR_FILE)
    )
    github.commit_files({conflict_tests.AUDITOR_FILE: edited}, message="Add OtherScanner")
    with django_capture_on_commit_callbacks(execute=True):
        regenerated = fulfilment.pull_request_regenerate(pr_id=row.pk, source="webhook")
    assert regenerated is not None

    new_head = github.branch_sha(row.branch) or ""
    assert new_head
    assert new_head != old_head
    posted = github.commit_status(new_head, CONTEXT)
    assert posted is not None, github.statuses
    assert posted["state"] == "success"
    assert posted["description"] == f"Approved in the portal: request #{r.pk}, 1 approval"
    row.refresh_from_db()
    assert (row.head_sha, row.status_sha) == (new_head, new_head)
    assert github.pulls[row.number or 0].head_sha  # the same pull request, reused
    assert len(github.pulls) == 1


def test_a_revocation_pull_request_gets_the_status(
    github, engineer, security, make_user, substrate, settings, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    grant = opened(r, django_capture_on_commit_callbacks)
    github.merge(grant.number)
    assert pull_requests_sync() == 1

    with django_capture_on_commit_callbacks(execute=True):
        revocation.request_revoke(
            request_id=r.pk, actor=security, mfa_verified=True, reason="Contract ended."
        )
    assert status(r) == "revoked"
    row = PullRequest.objects.get(access_request=r, purpose="revoke")
    assert row.state == "open"
    posted = github.commit_status(row.head_sha, CONTEXT)
    assert posted is not None, github.statuses
    assert posted["state"] == "success"
    assert posted["description"] == f"Revocation requested in the portal: request #{r.pk}"
    assert posted["target_url"] == page(r, settings)
    assert row.status_sha == row.head_sha
    revoke_access_task.delay(r.pk)  # a duplicate message: no second status
    assert len(github.statuses[row.head_sha]) == 1


def test_a_5xx_from_the_statuses_endpoint_is_retried_without_failing_the_request(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)  # opened; the status task waits for a commit
    row = PullRequest.objects.get(access_request=r)
    assert row.status_sha == ""
    assert github.commit_status(row.head_sha, CONTEXT) is None

    github.fail_next(502, method="POST", path_contains="/statuses/")
    with pytest.raises(Retry) as retried:
        pull_request_status_task.delay(row.pk)
    assert retried.value.when == 10.0  # the first backoff step, as for provisioning
    row.refresh_from_db()
    assert row.last_error.startswith(fulfilment.STATUS_ERROR_PREFIX)
    assert "502" in row.last_error
    assert (row.state, status(r)) == ("open", "pr_open")  # the pull request stays as it is

    pull_request_status_task.delay(row.pk)  # the retry
    assert github.commit_status(row.head_sha, CONTEXT) is not None
    row.refresh_from_db()
    assert (row.status_sha, row.last_error) == (row.head_sha, "")


def test_a_status_that_keeps_failing_is_recorded_and_the_poll_asks_again(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    github.fail_next(403, method="POST", path_contains="/statuses/", message="Resource not ok")
    assert fulfilment.pull_request_status_post(pr_id=row.pk) is False  # permanent: no raise
    row.refresh_from_db()
    assert row.last_error.startswith(fulfilment.STATUS_ERROR_PREFIX)
    assert "403" in row.last_error
    assert TOKEN not in row.last_error
    assert (row.state, status(r)) == ("open", "pr_open")

    fulfilment.pull_request_status_give_up(pr_id=row.pk, message="GitHub failed with 503")
    row.refresh_from_db()
    assert "Gave up" in row.last_error
    assert status(r) == "pr_open"

    pull_requests_sync()  # the poll queues the status again
    assert github.commit_status(row.head_sha, CONTEXT) is not None
    row.refresh_from_db()
    assert (row.status_sha, row.last_error) == (row.head_sha, "")


def test_a_head_someone_else_pushed_is_never_attested(
    github, engineer, security, make_user, substrate, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)  # opened; its status not posted yet
    row = PullRequest.objects.get(access_request=r)
    ours = row.head_sha
    assert row.pushed_sha == ours
    theirs = github.commit_files({"extra.tf": b"# not approved\n"}, branch=row.branch)
    # A duplicate delivery that raced the first finds the pull request open at their head.
    AccessRequest.objects.filter(pk=r.pk).update(status="provisioning")
    with django_capture_on_commit_callbacks(execute=True):
        provision_access_task.delay(r.pk)
    row.refresh_from_db()
    assert row.head_sha == theirs
    assert github.statuses.get(theirs) is None
    assert github.statuses.get(ours) is None
    assert row.status_sha == ""
    assert "not the portal's commit" in row.last_error
    assert status(r) == "pr_open"


def test_no_status_for_a_grant_whose_request_moved_on(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    AccessRequest.objects.filter(pk=r.pk).update(status="revoked")
    assert fulfilment.pull_request_status_post(pr_id=row.pk) is False
    assert github.statuses == {}


def test_the_github_forge_and_fake_validate_statuses(github, engineer, security, make_user):
    forge = GitHubForge(
        api_url=github.api_url,
        repository=f"{github.owner}/{github.name}",
        token=TOKEN,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    head = github.branch_sha("main") or ""
    forge.set_commit_status(
        head, state=CommitState.PENDING, context=CONTEXT, description="x" * 300, target_url=""
    )
    posted = github.commit_status(head, CONTEXT)
    assert posted is not None
    assert posted["state"] == "pending"
    assert len(posted["description"]) == 140  # cut to GitHub's limit, not refused
    assert posted["description"].endswith("\u2026")
    with pytest.raises(ForgePermanentError, match="422"):
        forge.set_commit_status(
            head,
            state="approved",  # type: ignore[arg-type]  # the real API refuses it
            context=CONTEXT,
            description="",
            target_url="",
        )
    with pytest.raises(ForgePermanentError, match="422"):
        forge.set_commit_status(
            "0" * 40, state=CommitState.SUCCESS, context=CONTEXT, description="", target_url=""
        )
    github.fail_next(503, method="POST", path_contains="/statuses/")
    with pytest.raises(ForgeTemporaryError, match="503"):
        forge.set_commit_status(
            head, state=CommitState.SUCCESS, context=CONTEXT, description="", target_url=""
        )
    assert [s["state"] for s in github.statuses[head]] == ["pending"]


def test_the_local_forge_accepts_the_status_and_the_row_records_it(
    local_repo, engineer, security, make_user, substrate, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    row = opened(r, django_capture_on_commit_callbacks)
    assert row.forge == "local"
    assert row.head_sha
    assert row.status_sha == row.head_sha
    assert row.last_error == ""


# --- GitLab ------------------------------------------------------------------------------------


def test_an_opened_merge_request_head_carries_the_approval_status(
    gitlab, engineer, security, make_user, substrate, settings, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    row = opened(r, django_capture_on_commit_callbacks)
    head = gitlab.branch_sha(row.branch) or ""
    assert head
    assert row.head_sha == head
    posted = gitlab.commit_status(head, CONTEXT)
    assert posted is not None, gitlab.statuses
    assert posted["name"] == CONTEXT
    assert posted["status"] == "success"
    assert posted["description"] == f"Approved in the portal: request #{r.pk}, 1 approval"
    assert posted["target_url"] == page(r, settings)
    assert row.status_sha == head


def test_the_gitlab_forge_maps_states_and_classifies_errors(gitlab):
    forge = GitLabForge(
        api_url=gitlab.api_url, project=gitlab.project_path, token=gitlab_tests.TOKEN
    )
    head = gitlab.branch_sha("main") or ""
    forge.set_commit_status(
        head, state=CommitState.FAILURE, context=CONTEXT, description="no", target_url=""
    )
    assert (gitlab.commit_status(head, CONTEXT) or {})["status"] == "failed"  # GitLab's word
    gitlab.fail_next(400, method="POST", path_contains="/statuses/", message="name is invalid")
    with pytest.raises(ForgePermanentError, match="400") as caught:
        forge.set_commit_status(
            head, state=CommitState.SUCCESS, context=CONTEXT, description="", target_url=""
        )
    assert gitlab_tests.TOKEN not in str(caught.value)
    # The same status again is GitLab's 400 "cannot transition": already there, not an error.
    gitlab.fail_next(
        400,
        method="POST",
        path_contains="/statuses/",
        message="Cannot transition status via :success from :success",
    )
    forge.set_commit_status(
        head, state=CommitState.SUCCESS, context=CONTEXT, description="", target_url=""
    )
    gitlab.fail_next(502, method="POST", path_contains="/statuses/")
    with pytest.raises(ForgeTemporaryError, match="502"):
        forge.set_commit_status(
            head, state=CommitState.SUCCESS, context=CONTEXT, description="", target_url=""
        )


def test_the_fake_gitlab_refuses_a_bad_state(gitlab):
    import requests

    head = gitlab.branch_sha("main") or ""
    url = f"{gitlab.api_url}/projects/{gitlab.owner}%2F{gitlab.name}/statuses/{head}"
    headers = {"PRIVATE-TOKEN": gitlab_tests.TOKEN}
    bad = requests.post(url, json={"state": "failure", "name": CONTEXT}, headers=headers, timeout=5)
    assert bad.status_code == 400
    good = requests.post(
        url, json={"state": "success", "name": CONTEXT}, headers=headers, timeout=5
    )
    assert good.status_code == 201
    assert good.json()["name"] == CONTEXT
    assert [s["status"] for s in gitlab.statuses[head]] == ["success"]
