"""GitLab: merge requests through the REST API v4 (fake GitLab, real git pushes), the
token-checked, de-duplicated webhook, polling, conflicts and revocation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import revocation
from fulfilment import services as fulfilment
from fulfilment.models import PullRequest, WebhookDelivery
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task, revoke_access_task
from fulfilment.webhooks import MAX_BODY_BYTES
from provisioning.forges import (
    ForgePermanentError,
    ForgeTemporaryError,
    GitLabForge,
    PullRequestState,
)
from tests.fakes.gitlab import FakeGitLab
from tests.fixtures.substrate_repo import FixtureRepo
from tests.fulfilment.helpers import POLICY_FILE, actions, approved, status, tree_paths

pytestmark = pytest.mark.django_db
TOKEN = "glpat-SECRETtoken1234567890"
SECRET = "gitlab-webhook-secret-0123456789"
URL = "/webhooks/gitlab/"


@pytest.fixture
def gitlab(tmp_path: Path, substrate: FixtureRepo, settings) -> Iterator[FakeGitLab]:
    with FakeGitLab(tmp_path / "gitlab", token=TOKEN) as server:
        server.commit_directory(substrate.root)
        settings.VAR_DIR = tmp_path / "var"
        settings.FORGE = "gitlab"
        settings.FORGE_API_URL = server.api_url
        settings.FORGE_REPOSITORY = server.project_path
        settings.FORGE_TOKEN = TOKEN
        settings.FORGE_WEBHOOK_SECRET = SECRET
        settings.SUBSTRATE_REPO_URL = server.git_url  # the token authenticates git too
        settings.SUBSTRATE_DEFAULT_BRANCH = "main"
        yield server


@pytest.fixture
def mr_open(gitlab, engineer, security, make_user, substrate) -> tuple[AccessRequest, PullRequest]:
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    provision_access_task.delay(r.pk)  # a duplicate message
    assert status(r) == "pr_open"
    return r, PullRequest.objects.get(access_request=r)


def forge(gitlab: FakeGitLab, token: str = TOKEN) -> GitLabForge:
    return GitLabForge(api_url=gitlab.api_url, project=gitlab.project_path, token=token)


# --- the forge against the fake ----------------------------------------------------------------


def test_approval_opens_exactly_one_merge_request(mr_open, gitlab):
    r, row = mr_open
    assert len(gitlab.merge_requests) == 1
    mr = gitlab.merge_requests[1]
    assert mr.source_branch == f"vendor-access/req-{r.pk}-orbit-ci"
    assert mr.target_branch == "main"
    assert "Orbit" in mr.description
    head = gitlab.branch_sha(mr.source_branch)
    assert POLICY_FILE in tree_paths(gitlab.repo_path, head or "")
    assert (row.forge, row.number, row.state, row.head_sha) == ("gitlab", 1, "open", head)
    assert row.url.endswith("/group/repo/-/merge_requests/1")
    # Every API call addressed the project by its encoded path, with the token header.
    assert all("/projects/group/repo" in path for _m, path in gitlab.requests if "/api/" in path)

    # A worker that raced another one: its look-up found nothing, so it asks to create the
    # merge request, GitLab answers 409, and the one already open is looked up and reused.
    client = forge(gitlab)
    lookups: list[str] = []
    find = client.find_open_pull_request

    def raced(branch: str) -> Any:
        lookups.append(branch)
        return None if len(lookups) == 1 else find(branch)

    client.find_open_pull_request = raced  # type: ignore[method-assign]
    gitlab.requests.clear()
    assert client.open_pull_request(row.branch, "main", "again", "body").number == 1
    assert ("POST", "/api/v4/projects/group/repo/merge_requests") in gitlab.requests
    assert len(gitlab.merge_requests) == 1


def test_states_and_conflicts_come_from_the_api(gitlab):
    gitlab.commit_files({POLICY_FILE: b"{}\n"}, branch="vendor-access/req-9-x")
    client = forge(gitlab)
    opened = client.open_pull_request("vendor-access/req-9-x", "main", "Grant", "body")
    assert (opened.number, opened.state, opened.branch) == (
        1,
        PullRequestState.OPEN,
        "vendor-access/req-9-x",
    )
    assert client.pull_request(1).state is PullRequestState.OPEN
    assert client.pull_request(1).mergeable is True
    gitlab.commit_files({POLICY_FILE: b'{"Version": "2012-10-17", "Statement": []}\n'})
    assert client.pull_request(1).mergeable is False
    client.close_pull_request(1)
    assert client.pull_request_state(1) is PullRequestState.CLOSED
    assert gitlab.merge_requests[1].state == "closed"


def test_rate_limits_and_5xx_are_temporary_4xx_permanent_and_tokens_never_shown(gitlab):
    client = forge(gitlab)
    gitlab.fail_next(429, headers={"Retry-After": "37"}, message="Retry later")
    with pytest.raises(ForgeTemporaryError) as limited:
        client.find_open_pull_request("vendor-access/req-1-x")
    assert limited.value.retry_after == 37.0
    gitlab.fail_next(502)
    with pytest.raises(ForgeTemporaryError):
        client.pull_request(5)
    with pytest.raises(ForgePermanentError, match="404"):
        client.pull_request(5)
    gitlab.fail_next(403, message=f"token {TOKEN} lacks the api scope")
    with pytest.raises(ForgePermanentError) as refused:
        client.pull_request(1)
    assert "403" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None
    with pytest.raises(ForgePermanentError, match="401"):
        forge(gitlab, "glpat-WRONGtoken0987654321").pull_request(1)


def test_subgroup_projects_are_url_encoded_and_paths_checked():
    client = GitLabForge(api_url="https://gitlab.example/api/v4/", project="a/b/c", token="t")
    assert client._base == "https://gitlab.example/api/v4/projects/a%2Fb%2Fc"
    with pytest.raises(ForgePermanentError):
        GitLabForge(api_url="", project="just-a-name", token="t")


def test_a_bad_token_fails_the_request_with_a_clear_reason(
    gitlab, engineer, security, make_user, substrate, settings
):
    settings.FORGE_TOKEN = "glpat-WRONGtoken0987654321"
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    assert status(r) == "failed"
    row = PullRequest.objects.get(access_request=r)
    assert "401" in row.last_error
    assert settings.FORGE_TOKEN not in row.last_error
    assert gitlab.merge_requests == {}


# --- polling ------------------------------------------------------------------------------------


def test_polling_picks_up_a_merge_and_then_the_revocation(gitlab, mr_open, security):
    r, row = mr_open
    assert pull_requests_sync() == 0
    gitlab.merge(1)
    assert pull_requests_sync() == 1
    assert status(r) == "active"
    row.refresh_from_db()
    assert row.state == "merged"

    revocation.request_revoke(request_id=r.pk, actor=security, mfa_verified=True, reason="Done.")
    revoke_access_task.delay(r.pk)
    revoke = PullRequest.objects.get(access_request=r, purpose="revoke")
    assert gitlab.merge_requests[2].source_branch == revoke.branch
    gitlab.merge(2)
    assert pull_requests_sync() == 1
    assert "request.revocation_merged" in actions(r)
    assert POLICY_FILE not in tree_paths(gitlab.repo_path, gitlab.branch_sha("main") or "")


def test_revoking_while_open_closes_the_merge_request(gitlab, mr_open, security):
    r, _row = mr_open
    revocation.request_revoke(request_id=r.pk, actor=security, mfa_verified=True, reason="No.")
    revoke_access_task.delay(r.pk)
    assert gitlab.merge_requests[1].state == "closed"
    assert len(gitlab.merge_requests) == 1


# --- the webhook ----------------------------------------------------------------------------------


def mr_event(
    iid: int, *, state: str, action: str, head_sha: str | None = None, **extra: Any
) -> bytes:
    """GitLab's event; its `last_commit` is the row's approved commit unless `head_sha` says."""
    if head_sha is None:
        rows = PullRequest.objects.filter(forge="gitlab", number=iid)
        head_sha = rows.values_list("approved_sha", flat=True).first() or ""
    return json.dumps(
        {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": {"id": 42, "path_with_namespace": "group/repo"},
            "object_attributes": {
                "iid": iid,
                "state": state,
                "action": action,
                "merge_commit_sha": "b" * 40 if state == "merged" else None,
                "last_commit": {"id": head_sha, "message": "Vendor access"},
                **extra,
            },
        }
    ).encode()


def deliver(
    client,
    body: bytes,
    *,
    token: str | None = SECRET,
    uuid_: str | None = None,
    event: str = "Merge Request Hook",
):
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid_ or str(uuid.uuid4())}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def test_a_merged_event_with_the_right_token_activates_once(client, mr_open):
    r, row = mr_open
    body = mr_event(1, state="merged", action="merge")
    first = deliver(client, body, uuid_="u-1")
    assert (first.status_code, first.json()) == (200, {"status": "applied"})
    assert status(r) == "active"
    row.refresh_from_db()
    assert (row.state, row.merge_sha) == ("merged", "b" * 40)
    again = deliver(client, body, uuid_="u-1")
    assert again.json() == {"status": "duplicate"}
    assert actions(r).count("request.activate") == 1
    merge = AuditEvent.objects.get(action="pullrequest.merge", object_id=str(r.pk))
    assert (merge.after or {}).get("source") == "webhook"
    assert WebhookDelivery.objects.get(delivery_id="u-1").forge == "gitlab"


def test_a_missing_or_wrong_token_is_refused(client, settings):
    settings.FORGE_WEBHOOK_SECRET = SECRET
    body = mr_event(1, state="merged", action="merge")
    for token in (None, "", "wrong-secret", SECRET + "x", SECRET.upper()):
        assert deliver(client, body, token=token).status_code == 403, token
    settings.FORGE_WEBHOOK_SECRET = ""  # no configured secret refuses everything
    assert deliver(client, body, token="").status_code == 403
    assert WebhookDelivery.objects.count() == 0
    assert not AuditEvent.objects.filter(action="pullrequest.merge").exists()


def test_closed_goes_back_to_security_and_others_are_ignored(client, mr_open):
    r, _row = mr_open
    other = json.loads(mr_event(1, state="merged", action="merge"))
    other["project"]["path_with_namespace"] = "someone/else"
    assert deliver(client, json.dumps(other).encode()).status_code == 202
    assert deliver(client, mr_event(99, state="merged", action="merge")).status_code == 202
    assert deliver(client, mr_event(1, state="opened", action="update")).status_code == 202
    assert status(r) == "pr_open"
    assert deliver(client, mr_event(1, state="closed", action="close")).json() == {
        "status": "applied"
    }
    assert status(r) == "failed"


def test_oversize_and_malformed_deliveries(client, settings):
    settings.FORGE_WEBHOOK_SECRET = SECRET
    assert deliver(client, b"{" + b" " * MAX_BODY_BYTES + b"}").status_code == 413
    assert deliver(client, b"not json").status_code == 400
    response = client.post(
        URL, data=b"{}", content_type="application/json", headers={"X-Gitlab-Token": SECRET}
    )
    assert response.status_code == 400  # no event UUID
    assert client.get(URL).status_code == 405
    assert WebhookDelivery.objects.count() == 0


def test_a_conflict_event_regenerates_the_merge_request(
    client, gitlab, mr_open, django_capture_on_commit_callbacks
):
    r, row = mr_open
    head = gitlab.branch_sha(row.branch)
    gitlab.commit_files({"unrelated.txt": b"moved on\n"})  # the base moved
    body = mr_event(1, state="opened", action="update", merge_status="cannot_be_merged")
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(client, body).json() == {"status": "regenerating"}
    assert gitlab.branch_sha(row.branch) != head
    assert len(gitlab.merge_requests) == 1
    assert AuditEvent.objects.filter(action="pullrequest.regenerate").count() == 1
    row.refresh_from_db()
    assert ("PUT", "/api/v4/projects/group/repo/merge_requests/1") in gitlab.requests
    assert gitlab.merge_requests[1].description == row.body
    assert status(r) == "pr_open"


def test_a_push_to_the_default_branch_polls(
    client, gitlab, mr_open, django_capture_on_commit_callbacks
):
    r, _row = mr_open
    gitlab.merge(1)
    body = json.dumps(
        {
            "object_kind": "push",
            "ref": "refs/heads/main",
            "project": {"path_with_namespace": "group/repo"},
        }
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, body, event="Push Hook")
    assert response.json() == {"status": "polling"}
    assert status(r) == "active"


def test_forge_for_settings_builds_the_gitlab_forge(gitlab, settings):
    assert isinstance(fulfilment.forge_for_settings(), GitLabForge)
    settings.FORGE_TOKEN = ""
    with pytest.raises(ForgePermanentError, match="FORGE_TOKEN"):
        fulfilment.forge_for_settings()
