"""Fulfilment: an approved request becomes exactly one pull request (fake GitHub, local forge)."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.urls import reverse
from dulwich.repo import Repo

from accessportal.roles import Role
from approvals import requests as services
from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import services as fulfilment
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest
from fulfilment.tasks import provision_access_task
from provisioning.forges import ForgeTemporaryError
from tests.fulfilment.helpers import (
    POLICY_FILE,
    TOKEN,
    actions,
    approved,
    status,
    tree_paths,
)

pytestmark = pytest.mark.django_db


# --- GitHub (the fake) ----------------------------------------------------------------------


def test_approval_opens_exactly_one_pull_request_with_the_generated_files(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)  # what approval enqueues on commit

    assert status(r) == "pr_open"
    assert len(github.pulls) == 1
    pull = next(iter(github.pulls.values()))
    assert pull.head.startswith(f"vendor-access/req-{r.pk}-")
    assert pull.base == "main"
    assert "Orbit" in (pull.body or "")
    head = github.branch_sha(pull.head)
    assert head is not None
    assert POLICY_FILE in tree_paths(github.repo_path, head)
    row = PullRequest.objects.get(access_request=r)
    assert (row.number, row.state, row.forge, row.head_sha) == (pull.number, "open", "github", head)
    assert row.url.endswith(f"/pull/{pull.number}")
    assert actions(r)[-3:] == ["request.approve", "request.provision", "request.pr_open"]


def test_the_preview_of_a_remote_repository_comes_through_the_mirror(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    preview = AccessRequest.objects.get(pk=r.pk).preview or {}
    assert "error" not in preview, preview
    assert preview["commit"] == github.branch_sha("main")
    assert POLICY_FILE in {f["path"] for f in preview["files"]}
    # Someone moves the default branch on: the next save previews against the new tip.
    moved = github.commit_files({"README.md": b"moved on\n"})
    copy = services.request_duplicate(request_id=r.pk, actor=engineer)
    assert (copy.preview or {}).get("commit") == moved


def test_an_unreachable_remote_repository_gives_a_preview_reason_without_the_token(
    github, engineer, security, make_user, substrate, settings
):
    from tests.services import free_port

    # Nothing listens there: the forge is down.
    settings.SUBSTRATE_REPO_URL = f"http://x-access-token:{TOKEN}@127.0.0.1:{free_port()}/o/r.git"
    r = approved(engineer, security, make_user, substrate)
    reason = (AccessRequest.objects.get(pk=r.pk).preview or {}).get("error", "")
    assert reason.startswith("No preview: the Substrate repository is not readable here")
    assert TOKEN not in reason


def test_a_duplicate_delivery_opens_no_second_pull_request(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    head = github.branch_sha(f"vendor-access/req-{r.pk}-orbit-ci")
    provision_access_task.delay(r.pk)
    # A delivery that raced the first one, seeing the request still in PROVISIONING.
    AccessRequest.objects.filter(pk=r.pk).update(status="provisioning")
    provision_access_task.delay(r.pk)

    assert len(github.pulls) == 1
    assert PullRequest.objects.filter(access_request=r).count() == 1
    assert github.branch_sha(f"vendor-access/req-{r.pk}-orbit-ci") == head
    assert status(r) == "pr_open"


def test_a_forge_5xx_is_retried_and_then_opens_one_pull_request(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    github.fail_next(502, method="POST", path_contains="/pulls")
    with pytest.raises(ForgeTemporaryError):
        fulfilment.request_provision(request_id=r.pk)
    assert status(r) == "provisioning"
    row = PullRequest.objects.get(access_request=r)
    assert row.state == "pending"
    assert "502" in row.last_error

    provision_access_task.delay(r.pk)  # the retry
    assert status(r) == "pr_open"
    assert len(github.pulls) == 1
    row.refresh_from_db()
    assert (row.state, row.last_error, row.attempts) == ("open", "", 2)


def test_the_task_schedules_a_retry_with_backoff_or_the_forges_hint(
    github, engineer, security, make_user, substrate
):
    r = approved(engineer, security, make_user, substrate)
    github.fail_next(503, method="POST", path_contains="/pulls")
    with pytest.raises(Retry) as first:
        provision_access_task.delay(r.pk)
    assert first.value.when == 10.0  # the first backoff step
    assert status(r) == "provisioning"

    github.rate_limit_next(secondary=True, retry_after=42)
    with pytest.raises(Retry) as second:
        provision_access_task.delay(r.pk)
    assert second.value.when == 42.0  # GitHub's retry-after wins

    provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    assert len(github.pulls) == 1
    assert PullRequest.objects.get(access_request=r).attempts == 3


def test_a_bad_token_fails_for_good_without_showing_it(
    github, engineer, security, make_user, substrate, settings, client
):
    settings.FORGE_TOKEN = "ghs_WRONGtoken0987654321"
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)

    assert status(r) == "failed"
    assert github.pulls == {}
    row = PullRequest.objects.get(access_request=r)
    assert "401" in row.last_error
    assert settings.FORGE_TOKEN not in row.last_error
    assert TOKEN not in row.last_error
    event = AuditEvent.objects.get(action="request.provision_fail", object_id=str(r.pk))
    assert settings.FORGE_TOKEN not in str(event.after)
    client.force_login(security)
    page = client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()
    assert row.last_error.split(":")[0] in page
    assert "Retry provisioning" in page
    assert settings.FORGE_TOKEN not in page
    progress = client.get(reverse("approvals:request_progress", kwargs={"pk": r.pk})).json()
    assert (progress["step"], progress["last_error"]) == ("failed", row.last_error)


def test_security_retries_a_failed_request(
    github, engineer, security, make_user, substrate, settings, client
):
    settings.FORGE_TOKEN = "ghs_WRONGtoken0987654321"
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    assert status(r) == "failed"

    client.force_login(engineer)
    retry = reverse("approvals:request_provision_retry", kwargs={"pk": r.pk})
    assert client.post(retry).status_code == 403
    assert status(r) == "failed"

    settings.FORGE_TOKEN = TOKEN  # security fixed the configuration
    client.force_login(security)
    fulfilment.request_retry(request_id=r.pk, actor=security, mfa_verified=True)
    # The re-enqueue runs on commit; outside the test's transaction, run it as the worker would.
    assert status(r) == "approved"
    provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    assert len(github.pulls) == 1
    assert "request.provision_retry" in actions(r)


def test_retry_enqueues_provisioning_only_after_commit(
    github, engineer, security, make_user, substrate, settings, django_capture_on_commit_callbacks
):
    settings.FORGE_TOKEN = "ghs_WRONGtoken0987654321"
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    settings.FORGE_TOKEN = TOKEN
    with django_capture_on_commit_callbacks() as callbacks:
        fulfilment.request_retry(request_id=r.pk, actor=security, mfa_verified=True)
    assert len(callbacks) == 1  # the provisioning task, nothing before the commit
    assert status(r) == "approved"
    assert github.pulls == {}
    callbacks[0]()  # the commit happens
    assert status(r) == "pr_open"
    assert len(github.pulls) == 1


# --- the local forge --------------------------------------------------------------------------


def _head(path: Path, branch: str) -> str:
    with Repo(str(path)) as repo:
        return repo.refs[f"refs/heads/{branch}".encode()].decode()  # type: ignore[index]


def test_local_forge_lists_shows_and_merges_for_security_and_shows_auditors(
    local_repo, engineer, security, make_user, substrate, client
):
    r = approved(engineer, security, make_user, substrate)
    before = _head(local_repo, "main")
    provision_access_task.delay(r.pk)
    provision_access_task.delay(r.pk)  # duplicate delivery

    assert status(r) == "pr_open"
    row = PullRequest.objects.get(access_request=r)
    assert (row.forge, row.number, row.state) == ("local", 1, "open")
    assert row.url == reverse("approvals:pullrequest_detail", kwargs={"number": 1})
    assert POLICY_FILE not in tree_paths(local_repo, before)

    list_url = reverse("approvals:pullrequests")
    detail_url = reverse("approvals:pullrequest_detail", kwargs={"number": 1})
    merge_url = reverse("approvals:pullrequest_merge", kwargs={"number": 1})
    client.force_login(engineer)
    assert client.get(list_url).status_code == 403
    assert client.get(detail_url).status_code == 403
    assert client.post(merge_url).status_code == 403
    # Auditors read pull requests (issue 8) but cannot merge, and see no merge button.
    client.force_login(make_user("ari", Role.AUDITORS))
    assert client.get(list_url).status_code == 200
    assert 'data-testid="merge"' not in client.get(detail_url).content.decode()
    assert client.post(merge_url).status_code == 403
    assert _head(local_repo, "main") == before

    client.force_login(security)
    listing = client.get(list_url).content.decode()
    assert row.branch in listing
    assert "Pull requests" in listing  # the navigation entry, for security
    detail = client.get(detail_url).content.decode()
    assert POLICY_FILE in detail
    assert "+++ b/" in detail

    # Without an MFA-verified session the merge is refused.
    client.post(merge_url)
    assert _head(local_repo, "main") == before
    fulfilment_sync.local_pull_request_merge(pr_id=row.pk, actor=security, mfa_verified=True)
    after = _head(local_repo, "main")
    assert after != before
    assert POLICY_FILE in tree_paths(local_repo, after)
    row.refresh_from_db()
    assert (row.state, row.merge_sha) == ("merged", after)
    assert status(r) == "active"
    assert "request.activate" in actions(r)


def test_requester_sees_no_pull_request_navigation(local_repo, engineer, client):
    client.force_login(engineer)
    page = client.get(reverse("approvals:requests")).content.decode()
    assert reverse("approvals:pullrequests") not in page


def test_vendor_name_is_escaped_on_the_diff_page(
    local_repo, engineer, security, make_user, substrate, client
):
    r = approved(
        engineer, security, make_user, substrate, name="<script>alert(1)</script> Orbit CI"
    )
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    assert row.state == "open"
    client.force_login(security)
    page = client.get(
        reverse("approvals:pullrequest_detail", kwargs={"number": row.number})
    ).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
