"""What is merged must be what was approved: the portal's own commit, on every forge.

Someone with push rights to the Substrate repository pushes a commit of their own onto the
portal's branch after the request was approved. The local forge merges the approved commit
only; a GitHub or GitLab merge (webhook or poll) of any other head leaves the request
MERGE_MISMATCH, on security's dashboard, until security acknowledges or revokes it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit
from dulwich.repo import Repo

from accessportal.roles import Role
from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import merge_review, revocation
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task, revoke_access_task
from tests.fulfilment import test_gitlab as gitlab_tests
from tests.fulfilment.helpers import (
    POLICY_FILE,
    actions,
    approved,
    closed_payload,
    deliver,
    status,
    tree_paths,
)

gitlab = gitlab_tests.gitlab

pytestmark = pytest.mark.django_db
BACKDOOR = "policies/backdoor.json"
BACKDOOR_BODY = b'{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}\n'


def push_to_bare(path: Path, branch: str, files: dict[str, bytes]) -> str:
    """Commits `files` on top of `branch` of the bare repository at `path`, as a person with
    push rights would; returns the new head."""
    ref = f"refs/heads/{branch}".encode()
    with Repo(str(path)) as repo:
        parent = repo.refs[ref]  # type: ignore[index]
        head = repo[parent]
        assert isinstance(head, Commit)
        entries = {
            e.path: (e.sha, e.mode)
            for e in repo.object_store.iter_tree_contents(head.tree)
            if e.path is not None and e.sha is not None and e.mode is not None
        }
        for name, content in files.items():
            blob = Blob.from_string(content)
            repo.object_store.add_object(blob)
            entries[name.encode()] = (blob.id, 0o100644)
        commit = Commit()
        commit.tree = commit_tree(repo.object_store, [(p, s, m) for p, (s, m) in entries.items()])
        commit.parents = [parent]
        commit.author = commit.committer = b"Mallory <mallory@example.com>"
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"Small fix\n"
        repo.object_store.add_object(commit)
        repo.refs[ref] = commit.id  # type: ignore[index]
        return commit.id.decode()


def opened(engineer, security, make_user, substrate) -> tuple[AccessRequest, PullRequest]:
    """An approved request with its pull request open (`number` set)."""
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    row = PullRequest.objects.get(access_request=r)
    assert row.number is not None
    assert row.approved_sha
    assert row.approved_sha == row.pushed_sha
    return r, row


def number(row: PullRequest) -> int:
    assert row.number is not None
    return row.number


def assert_flagged(r: AccessRequest, row: PullRequest, merged_head: str) -> None:
    """Not active: MERGE_MISMATCH, audited with both heads."""
    assert status(r) == "merge_mismatch"
    assert "request.activate" not in actions(r)
    event = AuditEvent.objects.get(action="request.merge_mismatch", object_id=str(r.pk))
    assert (event.after or {})["approved_sha"] == row.approved_sha
    assert (event.after or {})["merged_head_sha"] == merged_head
    row.refresh_from_db()
    assert (row.state, row.merged_head_sha) == ("merged", merged_head)


# --- the local forge ------------------------------------------------------------------------


def test_the_local_forge_merges_the_approved_commit_not_a_commit_pushed_after_it(
    local_repo, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    backdoor = push_to_bare(local_repo, row.branch, {BACKDOOR: BACKDOOR_BODY})

    fulfilment_sync.local_pull_request_merge(pr_id=row.pk, actor=security, mfa_verified=True)

    with Repo(str(local_repo)) as repo:
        main = repo.refs[b"refs/heads/main"].decode()  # type: ignore[index]
    files = tree_paths(local_repo, main)
    assert POLICY_FILE in files
    assert BACKDOOR not in files
    row.refresh_from_db()
    # The recorded head is the approved commit, not overwritten by the branch's tip.
    assert row.head_sha == row.merged_head_sha == row.approved_sha != backdoor
    assert status(r) == "active"
    merge = AuditEvent.objects.get(action="pullrequest.merge", object_id=str(r.pk))
    assert (merge.after or {})["head_sha"] == row.approved_sha
    assert (merge.after or {})["branch_head"] == backdoor


def test_the_local_diff_page_shows_the_approved_commit(
    local_repo, engineer, security, make_user, substrate, client
):
    _r, row = opened(engineer, security, make_user, substrate)
    push_to_bare(local_repo, row.branch, {BACKDOOR: BACKDOOR_BODY})
    PullRequest.objects.filter(pk=row.pk).update(head_sha="")  # only the approval is known
    client.force_login(security)
    page = client.get(reverse("approvals:pullrequest_detail", kwargs={"number": row.number}))
    html = page.content.decode()
    assert POLICY_FILE in html
    assert BACKDOOR not in html


# --- GitHub -----------------------------------------------------------------------------------


def test_a_github_webhook_merging_another_head_flags_the_request_for_security(
    client, secret, github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    backdoor = github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    body = closed_payload(number(row), merged=True, head_sha=backdoor)

    response = deliver(client, body)

    assert (response.status_code, response.json()) == (200, {"status": "applied"})
    assert_flagged(r, row, backdoor)
    # On security's dashboard, with a way to act on the request page.
    client.force_login(make_user("sol", Role.SECURITY))
    dashboard = client.get("/").content.decode()
    start = dashboard.index('data-testid="merge-mismatches"')
    assert f"#{r.pk} " in dashboard[start : dashboard.index("</ul>", start)]
    page = client.get(reverse("approvals:request_detail", args=[r.pk])).content.decode()
    assert 'data-testid="merge-mismatch"' in page
    assert f"<code>{backdoor[:12]}…</code>" in page  # the merged head, next to the approved
    assert reverse("approvals:request_merge_acknowledge", args=[r.pk]) in page


def test_a_github_webhook_without_the_head_is_not_taken_for_the_approved_one(
    client, secret, github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    body = closed_payload(number(row), merged=True, head_sha="")
    assert deliver(client, body).json() == {"status": "applied"}
    assert_flagged(r, row, "")


def test_the_github_poll_flags_a_merge_of_another_head(
    github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    backdoor = github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    github.merge(row.number)

    assert pull_requests_sync() == 1

    assert_flagged(r, row, backdoor)


# --- GitLab -----------------------------------------------------------------------------------


def test_the_gitlab_poll_flags_a_merge_of_another_head(
    gitlab, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    backdoor = gitlab.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    gitlab.merge(row.number)

    assert pull_requests_sync() == 1

    assert_flagged(r, row, backdoor)


def test_a_gitlab_webhook_merging_another_head_flags_the_request(
    client, gitlab, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    backdoor = gitlab.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    body = gitlab_tests.mr_event(number(row), state="merged", action="merge", head_sha=backdoor)

    response = gitlab_tests.deliver(client, body, uuid_=str(uuid.uuid4()))

    assert response.json() == {"status": "applied"}
    assert_flagged(r, row, backdoor)


def test_a_gitlab_merge_of_the_approved_head_activates(
    gitlab, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    gitlab.merge(row.number)
    assert pull_requests_sync() == 1
    assert status(r) == "active"


# --- security looks -------------------------------------------------------------------------


def test_security_acknowledges_a_reviewed_merge_with_mfa_and_a_comment(
    github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    github.merge(row.number)
    pull_requests_sync()
    assert status(r) == "merge_mismatch"
    reviewer = make_user("sol", Role.SECURITY)

    with pytest.raises(PermissionDenied, match="Only the security team"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=engineer, mfa_verified=True, comment="Fine."
        )
    with pytest.raises(PermissionDenied, match="second factor"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=reviewer, mfa_verified=False, comment="Fine."
        )
    with pytest.raises(ValidationError, match="what you reviewed"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=reviewer, mfa_verified=True, comment=" "
        )
    assert status(r) == "merge_mismatch"

    merge_review.request_merge_acknowledge(
        request_id=r.pk,
        actor=reviewer,
        mfa_verified=True,
        comment="The extra commit only fixed a typo; checked in the repository.",
    )

    assert status(r) == "active"
    event = AuditEvent.objects.get(action="request.merge_acknowledge", object_id=str(r.pk))
    assert event.actor_id == reviewer.pk
    assert "typo" in (event.after or {})["comment"]
    with pytest.raises(ValidationError, match="waits for a review"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=reviewer, mfa_verified=True, comment="Again."
        )


def test_the_requester_cannot_acknowledge_and_security_can_revoke_instead(
    client, github, security, make_user, substrate
):
    requester = make_user("sec-requester", Role.SECURITY)
    r, row = opened(requester, security, make_user, substrate)
    github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    github.merge(row.number)
    pull_requests_sync()
    with pytest.raises(PermissionDenied, match="You filed this request"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=requester, mfa_verified=True, comment="Mine, fine."
        )

    revocation.request_revoke(
        request_id=r.pk, actor=security, mfa_verified=True, reason="Unapproved change merged."
    )
    revoke_access_task.delay(r.pk)

    assert status(r) == "revoked"
    removal = PullRequest.objects.get(access_request=r, purpose="revoke")
    assert removal.state == "open"
    # Revoking removes what was approved, not the extra commit: still listed until reviewed.
    reviewer = make_user("sol", Role.SECURITY)
    assert f"#{r.pk} " in attention(client, reviewer)
    merge_review.request_merge_acknowledge(
        request_id=r.pk, actor=reviewer, mfa_verified=True, comment="Extra commit reverted."
    )
    assert f"#{r.pk} " not in attention(client, reviewer)
    assert status(r) == "revoked"


def attention(client, user) -> str:
    """The dashboard's list of merges to review, as `user` sees it."""
    client.force_login(user)
    html = client.get("/").content.decode()
    start = html.index("<h3>Merged with an unapproved head</h3>")
    return html[start : html.index("<h3>", start + 10)]


def test_a_revocation_merged_with_another_head_waits_for_securitys_review(
    client, github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    github.merge(number(row))
    pull_requests_sync()
    assert status(r) == "active"
    revocation.request_revoke(request_id=r.pk, actor=security, mfa_verified=True, reason="Ended.")
    revoke_access_task.delay(r.pk)
    removal = PullRequest.objects.get(access_request=r, purpose="revoke")
    assert removal.approved_sha
    backdoor = github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=removal.branch)
    github.merge(number(removal))

    assert pull_requests_sync() == 1

    assert status(r) == "revoked"
    event = AuditEvent.objects.get(action="pullrequest.merge_mismatch", object_id=str(r.pk))
    assert (event.after or {})["merged_head_sha"] == backdoor
    reviewer = make_user("sol", Role.SECURITY)
    assert f"#{r.pk} " in attention(client, reviewer)
    page = client.get(reverse("approvals:request_detail", args=[r.pk])).content.decode()
    assert 'data-testid="revocation-merged-head"' in page
    assert reverse("approvals:request_merge_acknowledge", args=[r.pk]) in page

    merge_review.request_merge_acknowledge(
        request_id=r.pk, actor=reviewer, mfa_verified=True, comment="Reverted the extra file."
    )

    removal.refresh_from_db()
    assert removal.head_reviewed_by == reviewer
    assert removal.head_reviewed_at is not None
    assert AuditEvent.objects.filter(action="pullrequest.merge_reviewed").count() == 1
    assert f"#{r.pk} " not in attention(client, reviewer)
    assert status(r) == "revoked"
    with pytest.raises(ValidationError, match="waits for a review"):
        merge_review.request_merge_acknowledge(
            request_id=r.pk, actor=reviewer, mfa_verified=True, comment="Again."
        )


def test_an_acknowledged_grant_leaves_the_attention_list(
    client, github, engineer, security, make_user, substrate
):
    r, row = opened(engineer, security, make_user, substrate)
    github.commit_files({BACKDOOR: BACKDOOR_BODY}, branch=row.branch)
    github.merge(number(row))
    pull_requests_sync()
    reviewer = make_user("sol", Role.SECURITY)
    assert f"#{r.pk} " in attention(client, reviewer)
    merge_review.request_merge_acknowledge(
        request_id=r.pk, actor=reviewer, mfa_verified=True, comment="Checked."
    )
    assert f"#{r.pk} " not in attention(client, reviewer)
    row.refresh_from_db()
    assert row.head_reviewed_by == reviewer
