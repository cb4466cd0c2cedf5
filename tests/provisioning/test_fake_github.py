"""The fake GitHub itself answers like GitHub, so tests built on it mean something."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from dulwich import porcelain
from dulwich.objects import Commit
from dulwich.repo import Repo
from github import Auth, BadCredentialsException, Github, GithubException

from tests.fakes.github import FakeGitHub, render

pytestmark = pytest.mark.pure

TOKEN = "ghp_fakeFixtureToken"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "gh", token=TOKEN) as server:
        server.commit_files({"README.md": b"hello\n"})
        server.commit_files({"feature.txt": b"x\n"}, branch="feature")
        yield server


def client(fake: FakeGitHub, token: str = TOKEN) -> Github:
    return Github(
        base_url=fake.api_url,
        auth=Auth.Token(token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def test_repository_and_branches(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("org/repo")
    assert repo.full_name == "org/repo"
    assert repo.default_branch == "main"
    assert repo.owner.login == "org"
    assert repo.get_branch("feature").commit.sha == fake.branch_sha("feature")
    with pytest.raises(GithubException) as caught:
        repo.get_branch("nope")
    assert caught.value.status == 404


def test_pulls_create_list_get_and_duplicate(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("org/repo")
    pull = repo.create_pull(base="main", head="feature", title="T", body="B")
    assert (pull.number, pull.state, pull.merged, pull.head.ref) == (1, "open", False, "feature")
    assert pull.head.sha == fake.branch_sha("feature")

    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="org:feature", title="T", body="B")
    assert caught.value.status == 422
    assert "already exists" in str(caught.value.data)

    assert [p.number for p in repo.get_pulls(state="open", head="org:feature")] == [1]
    assert list(repo.get_pulls(state="open", head="org:other")) == []
    assert list(repo.get_pulls(state="closed")) == []
    assert repo.get_pull(1).title == "T"


def test_pull_from_a_missing_branch_or_without_commits_is_422(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("org/repo")
    for head in ("missing", "main"):
        with pytest.raises(GithubException) as caught:
            repo.create_pull(base="main", head=head, title="T", body="B")
        assert caught.value.status == 422
    assert fake.pulls == {}


def test_bad_token_is_401_for_the_api_and_for_git(fake: FakeGitHub, tmp_path: Path) -> None:
    with pytest.raises(BadCredentialsException):
        client(fake, token="wrong").get_repo("org/repo")
    assert (
        requests.get(fake.git_url + "/info/refs?service=git-upload-pack", timeout=5).status_code
        == 401
    )
    answer = requests.get(
        fake.git_url + "/info/refs?service=git-upload-pack", auth=("x", TOKEN), timeout=5
    )
    assert answer.status_code == 200


def test_real_push_over_smart_http(fake: FakeGitHub, tmp_path: Path) -> None:
    work = tmp_path / "work"
    porcelain.clone(fake.git_url, str(work), username="x-access-token", password=TOKEN)
    (work / "new.txt").write_text("pushed\n")
    porcelain.add(str(work), [str(work / "new.txt")])
    sha = porcelain.commit(str(work), message=b"add", author=b"A <a@b>", committer=b"A <a@b>")
    porcelain.push(
        str(work),
        fake.git_url,
        b"refs/heads/main:refs/heads/pushed",
        username="x-access-token",
        password=TOKEN,
    )
    assert fake.branch_sha("pushed") == sha.decode()


def test_merge_and_close_change_state(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo("org/repo")
    number = repo.create_pull(base="main", head="feature", title="T", body="B").number
    base = fake.branch_sha("main")
    merge = fake.merge(number)
    pull = repo.get_pull(number)
    assert (pull.state, pull.merged, pull.merge_commit_sha) == ("closed", True, merge)
    with Repo(str(fake.repo_path)) as git:
        commit = git[merge.encode()]
        assert isinstance(commit, Commit)
        assert commit.parents == [base.encode(), fake.branch_sha("feature").encode()]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="closed"):
        fake.merge(number)


def test_injected_failures_are_consumed_once(fake: FakeGitHub) -> None:
    fake.fail_next(503, path_contains="/pulls")
    headers = {"Authorization": f"token {TOKEN}"}
    url = f"{fake.api_url}/repos/org/repo"
    assert requests.get(url, headers=headers, timeout=5).status_code == 200  # not matched
    assert requests.get(url + "/pulls", headers=headers, timeout=5).status_code == 503
    assert requests.get(url + "/pulls", headers=headers, timeout=5).status_code == 200

    fake.rate_limit_next()
    limited = requests.get(url, headers=headers, timeout=5)
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded")


def test_a_held_request_is_handled_at_once_and_answered_on_release(fake: FakeGitHub) -> None:
    held = fake.hold_next(method="POST", path_contains="/pulls")
    answers: list[int] = []
    headers = {"Authorization": f"token {TOKEN}"}
    url = f"{fake.api_url}/repos/org/repo/pulls"
    thread = threading.Thread(
        target=lambda: answers.append(
            requests.post(
                url,
                json={"head": "feature", "base": "main", "title": "T"},
                headers=headers,
                timeout=30,
            ).status_code
        )
    )
    thread.start()
    assert held.arrived.wait(timeout=10)
    assert len(fake.pulls) == 1  # created before the answer left
    assert answers == []
    held.release()
    thread.join(timeout=10)
    assert answers == [201]


def test_merge_delivers_a_signed_pull_request_webhook(fake: FakeGitHub) -> None:
    received: list[tuple[Message, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fake.webhook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        fake.webhook_secret = "s3cret"
        number = (
            client(fake)
            .get_repo("org/repo")
            .create_pull(base="main", head="feature", title="T", body="B")
            .number
        )
        merge = fake.merge(number)
    finally:
        server.shutdown()
        server.server_close()
    [(headers, body)] = received
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert headers["X-GitHub-Event"] == "pull_request"
    payload = json.loads(body)
    assert payload["action"] == "closed"
    assert payload["repository"]["full_name"] == "org/repo"
    assert (payload["pull_request"]["merged"], payload["pull_request"]["merge_commit_sha"]) == (
        True,
        merge,
    )
    assert fake.deliveries == [(headers["X-GitHub-Delivery"], 200)]


def test_templates_fill_placeholders_and_typed_values() -> None:
    pull = render(
        "pull-request",
        {
            "api": "http://x/api/v3",
            "web": "http://x",
            "owner": "o",
            "name": "r",
            "number": 7,
            "merged": True,
            "title": "T",
        },
    )
    assert pull["number"] == 7
    assert pull["merged"] is True
    assert pull["url"] == "http://x/api/v3/repos/o/r/pulls/7"
    assert pull["review_comment_url"].endswith("/pulls/comments{/number}")  # URI template kept
