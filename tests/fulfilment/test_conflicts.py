"""A pull request that can no longer merge is regenerated on the new default-branch tip and
the same pull request reused (fake GitHub computing mergeability from git; local forge)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit
from dulwich.repo import Repo

from approvals import decisions
from approvals import requests as services
from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import services as fulfilment
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task
from tests.fulfilment.helpers import ROLE, sign, status, tree_paths, vendor_reviewed

pytestmark = pytest.mark.django_db
AUDITOR_FILE = "substrate.Auditor.assume-role-policy.json"
OTHER_VENDOR = "arn:aws:iam::222233334444:role/OtherScanner"
SECRET = "whsec-conflicts-0123456789"


def auditor_grant(engineer, security, make_user) -> AccessRequest:
    """An approved request that edits the Auditor trust policy, a file others edit too."""
    r = services.request_save(
        actor=engineer,
        data={
            "vendor": vendor_reviewed(engineer, make_user),
            "strategy": "auditor",
            "principals": ROLE,
            "external_id": "",
            "justification": "Read-only posture scan.",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    services.request_submit(request_id=r.pk, actor=engineer)
    r = decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    assert r.status == "approved"
    provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    return r


def someone_else_edits(current: bytes | None) -> bytes:
    """The Auditor file with another vendor's statement appended, as a person would (they
    create the file when the repository has none yet, as the pull request also does)."""
    doc: dict[str, Any] = (
        json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    )
    doc["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": OTHER_VENDOR},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "other-1234"}},
        }
    )
    return (json.dumps(doc, indent=2) + "\n").encode()


def commit_on_main(path: Path, name: str, content: bytes) -> None:
    """Someone else's commit on the local repository's main branch."""
    with Repo(str(path)) as repo:
        parent = repo.refs[b"refs/heads/main"]  # type: ignore[index]
        parent_commit = repo[parent]
        assert isinstance(parent_commit, Commit)
        entries = {
            e.path: (e.sha, e.mode)
            for e in repo.object_store.iter_tree_contents(parent_commit.tree)
            if e.path is not None
        }
        blob = Blob.from_string(content)
        repo.object_store.add_object(blob)
        entries[name.encode()] = (blob.id, 0o100644)
        commit = Commit()
        commit.tree = commit_tree(repo.object_store, [(p, s, m) for p, (s, m) in entries.items()])
        commit.parents = [parent]
        commit.author = commit.committer = b"Someone <someone@example.com>"
        commit.author_time = commit.commit_time = 1_700_000_000
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"Edit\n"
        repo.object_store.add_object(commit)
        repo.refs[b"refs/heads/main"] = commit.id  # type: ignore[index]


def regenerations(r: AccessRequest) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="pullrequest.regenerate", object_id=str(r.pk)))


def test_a_conflict_found_by_polling_regenerates_the_same_pull_request(
    github, engineer, security, make_user, substrate
):
    r = auditor_grant(engineer, security, make_user)
    row = PullRequest.objects.get(access_request=r)
    number = row.number or 0
    forge = fulfilment.forge_for_settings()
    assert forge.pull_request(number).mergeable is True
    assert pull_requests_sync() == 0
    assert regenerations(r) == []  # nothing to do while it merges cleanly

    main = github.branch_sha("main") or ""
    edited = someone_else_edits(tree_paths(github.repo_path, main).get(AUDITOR_FILE))
    new_main = github.commit_files({AUDITOR_FILE: edited}, message="Add OtherScanner")
    assert forge.pull_request(number).mergeable is False  # computed from git content
    with pytest.raises(ValueError, match="conflicting paths"):
        github.merge(row.number)

    assert pull_requests_sync() == 0  # the regeneration task ran (eagerly)

    assert github.branch_sha("main") == new_main  # the default branch is never pushed to
    head = github.branch_sha(row.branch) or ""
    with Repo(str(github.repo_path)) as repo:
        commit = repo[head.encode()]
        assert isinstance(commit, Commit)
        assert commit.parents == [new_main.encode()]
    text = tree_paths(github.repo_path, head)[AUDITOR_FILE].decode()
    assert OTHER_VENDOR in text  # their statement kept
    assert ROLE in text  # ours added again
    assert len(github.pulls) == 1
    row.refresh_from_db()
    assert (row.head_sha, row.state, row.last_error) == (head, "open", "")
    assert forge.pull_request(number).mergeable is True
    [event] = regenerations(r)
    assert (event.after or {}).get("source") == "poll"
    assert ("PATCH", f"/api/v3/repos/org/repo/pulls/{number}") in github.requests  # its body
    assert github.pulls[number].body == row.body
    assert (event.after or {}).get("head_sha") == head

    assert pull_requests_sync() == 0
    assert len(regenerations(r)) == 1  # up to date: no second push, no second event
    github.merge(row.number)
    assert pull_requests_sync() == 1
    assert status(r) == "active"


def test_a_webhook_reporting_a_conflict_or_a_push_to_main_regenerates(
    github, engineer, security, make_user, substrate, client, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    settings.FORGE_WEBHOOK_SECRET = SECRET
    r = auditor_grant(engineer, security, make_user)
    row = PullRequest.objects.get(access_request=r)
    main = github.branch_sha("main") or ""
    edited = someone_else_edits(tree_paths(github.repo_path, main).get(AUDITOR_FILE))
    github.commit_files({AUDITOR_FILE: edited})

    def deliver(event: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/webhooks/github/",
                data=body,
                content_type="application/json",
                headers={
                    "X-GitHub-Event": event,
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": sign(body, SECRET),
                },
            )
        return response.json()

    repository = {"full_name": settings.FORGE_REPOSITORY}
    pull = {"number": row.number, "state": "open", "mergeable": False, "mergeable_state": "dirty"}
    answer = deliver(
        "pull_request", {"action": "synchronize", "pull_request": pull, "repository": repository}
    )
    assert answer == {"status": "regenerating"}
    [event] = regenerations(r)
    assert (event.after or {}).get("source") == "webhook"
    head = github.branch_sha(row.branch)

    # A push to the default branch makes the portal poll: the conflict is found again.
    github.commit_files({AUDITOR_FILE: someone_else_edits(edited)})
    answer = deliver("push", {"ref": "refs/heads/main", "repository": repository})
    assert answer == {"status": "polling"}
    assert len(regenerations(r)) == 2
    assert github.branch_sha(row.branch) != head
    assert len(github.pulls) == 1


def test_the_local_forge_regenerates_a_conflicting_pull_request(
    local_repo: Path, engineer, security, make_user, substrate
):
    r = auditor_grant(engineer, security, make_user)
    row = PullRequest.objects.get(access_request=r)
    with Repo(str(local_repo)) as repo:
        main = repo.refs[b"refs/heads/main"].decode()  # type: ignore[index]
    edited = someone_else_edits(tree_paths(local_repo, main).get(AUDITOR_FILE))
    commit_on_main(local_repo, AUDITOR_FILE, edited)
    number = row.number or 0
    forge = fulfilment.forge_for_settings()
    assert forge.pull_request(number).mergeable is False

    pull_requests_sync()

    assert forge.pull_request(number).mergeable is True
    assert len(regenerations(r)) == 1
    fulfilment_sync.local_pull_request_merge(pr_id=row.pk, actor=security, mfa_verified=True)
    assert status(r) == "active"
    assert PullRequest.objects.filter(access_request=r).count() == 1


def test_a_regeneration_that_cannot_succeed_is_recorded_once_and_leaves_the_pull_request(
    github, engineer, security, make_user, substrate
):
    r = auditor_grant(engineer, security, make_user)
    row = PullRequest.objects.get(access_request=r)
    head = github.branch_sha(row.branch)
    github.commit_files({AUDITOR_FILE: b'{"Version": "2012-10-17", "Statement": [\n'})  # broken

    pull_requests_sync()
    pull_requests_sync()  # the next poll tries again

    row.refresh_from_db()
    assert row.state == "open"
    assert AUDITOR_FILE in row.last_error
    assert github.branch_sha(row.branch) == head  # nothing pushed
    failures = AuditEvent.objects.filter(action="pullrequest.regenerate_fail", object_id=str(r.pk))
    assert failures.count() == 1
    assert status(r) == "pr_open"
