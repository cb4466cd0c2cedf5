"""Forges: GitHubForge against the fake GitHub, LocalForge merges, the pull request body."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.objects import Commit
from dulwich.repo import Repo

from provisioning.forges import (
    GITHUB_BODY_LIMIT,
    ForgePermanentError,
    ForgeTemporaryError,
    GitHubForge,
    InMemoryPullRequestStore,
    LocalForge,
    MergeConflict,
    PullRequestState,
    md_code,
    md_text,
    pull_request_body,
)
from provisioning.gitrepo import Mirror, prepare_branch
from provisioning.substrate import (
    ChangeSet,
    Command,
    Dialect,
    FileAction,
    FileChange,
    Strategy,
)
from tests.fakes.github import FakeGitHub

pytestmark = pytest.mark.pure

AUTHOR = "Vendor Access Portal <portal@example.com>"
BRANCH = "vendor-access/req-42-orbit-ci"
HOSTILE = "<img src=x onerror=alert(1)> [link](javascript:alert(1))"


def changeset(*files: tuple[str, str], commands: tuple[Command, ...] = ()) -> ChangeSet:
    return ChangeSet(
        vendor="orbit-ci",
        strategy=Strategy.ROLE_PER_ACCOUNT,
        dialect=Dialect.ROLE_CREATE,
        substrate_version="2024.08",
        revoke=False,
        files=tuple(FileChange(path, FileAction.CREATE, text) for path, text in files),
        commands=commands,
    )


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", token="ghp_SECRETforgeToken") as server:
        server.commit_files({"README.md": b"substrate\n", "modules/x/main.tf": b"# x\n"})
        yield server


@pytest.fixture
def pushed(fake: FakeGitHub, tmp_path: Path) -> str:
    """The portal's branch, pushed; returns its sha."""
    mirror = Mirror(fake.git_url, tmp_path / "cache", token=fake.token)
    return prepare_branch(
        mirror,
        base_branch="main",
        branch=BRANCH,
        changeset=changeset(("orbit-ci.json", "{}\n")),
        author=AUTHOR,
        message="Grant orbit-ci",
    )


def github_forge(fake: FakeGitHub, token: str | None = None) -> GitHubForge:
    return GitHubForge(
        api_url=fake.api_url,
        repository="org/repo",
        token=token or fake.token,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


# --- GitHubForge --------------------------------------------------------------------------


def test_open_pull_request_then_find_it(fake: FakeGitHub, pushed: str) -> None:
    forge = github_forge(fake)
    assert forge.find_open_pull_request(BRANCH) is None

    info = forge.open_pull_request(BRANCH, "main", "Grant orbit-ci", "The body")

    assert info.branch == BRANCH
    assert info.base == "main"
    assert info.state is PullRequestState.OPEN
    assert info.head_sha == pushed
    assert info.url == f"{fake.url}/org/repo/pull/{info.number}"
    assert fake.pulls[info.number].body == "The body"
    assert forge.find_open_pull_request(BRANCH) == info


def test_opening_twice_returns_the_same_pull_request(fake: FakeGitHub, pushed: str) -> None:
    forge = github_forge(fake)
    first = forge.open_pull_request(BRANCH, "main", "Grant", "body")
    second = github_forge(fake).open_pull_request(BRANCH, "main", "Grant (retry)", "body")
    assert second == first
    assert len(fake.pulls) == 1


def test_a_lost_race_uses_githubs_422_and_returns_the_winner(
    fake: FakeGitHub, pushed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    winner = github_forge(fake).open_pull_request(BRANCH, "main", "Grant", "body")
    forge = github_forge(fake)
    real_find = forge.find_open_pull_request
    calls: list[str] = []

    def stale_then_real(branch: str):  # type: ignore[no-untyped-def]
        calls.append(branch)
        return None if len(calls) == 1 else real_find(branch)  # first look predates the winner

    monkeypatch.setattr(forge, "find_open_pull_request", stale_then_real)
    assert forge.open_pull_request(BRANCH, "main", "Grant", "body") == winner
    assert len(calls) == 2
    assert ("POST", "/api/v3/repos/org/repo/pulls") in fake.requests
    assert len(fake.pulls) == 1


def test_state_follows_merge_and_close(fake: FakeGitHub, pushed: str, tmp_path: Path) -> None:
    forge = github_forge(fake)
    info = forge.open_pull_request(BRANCH, "main", "Grant", "body")
    assert forge.pull_request_state(info.number) is PullRequestState.OPEN

    merge_sha = fake.merge(info.number)

    assert forge.pull_request_state(info.number) is PullRequestState.MERGED
    assert fake.branch_sha("main") == merge_sha
    assert forge.find_open_pull_request(BRANCH) is None

    other = "vendor-access/req-43-acme"
    prepare_branch(
        Mirror(fake.git_url, tmp_path / "cache", token=fake.token),
        base_branch="main",
        branch=other,
        changeset=changeset(("acme.json", "{}\n")),
        author=AUTHOR,
        message="Grant acme",
    )
    closed = forge.open_pull_request(other, "main", "Grant acme", "body")
    fake.close(closed.number)
    assert forge.pull_request_state(closed.number) is PullRequestState.CLOSED


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(fake: FakeGitHub, pushed: str, status: int) -> None:
    fake.fail_next(status, method="POST")
    forge = github_forge(fake)
    with pytest.raises(ForgeTemporaryError, match=str(status)):
        forge.open_pull_request(BRANCH, "main", "Grant", "body")
    assert fake.pulls == {}
    assert forge.open_pull_request(BRANCH, "main", "Grant", "body").number == 1  # the retry


def test_secondary_rate_limit_is_temporary_with_retry_after(fake: FakeGitHub, pushed: str) -> None:
    fake.rate_limit_next(secondary=True, retry_after=42)
    with pytest.raises(ForgeTemporaryError) as caught:
        github_forge(fake).find_open_pull_request(BRANCH)
    assert caught.value.retry_after == 42


def test_primary_rate_limit_is_temporary_until_reset(fake: FakeGitHub, pushed: str) -> None:
    fake.rate_limit_next(secondary=False, retry_after=120)
    with pytest.raises(ForgeTemporaryError) as caught:
        github_forge(fake).pull_request_state(1)
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 121


def test_a_bad_token_is_permanent_and_not_shown(fake: FakeGitHub, pushed: str) -> None:
    wrong = "ghp_WRONGsecretValue99"
    with pytest.raises(ForgePermanentError, match="401") as caught:
        github_forge(fake, token=wrong).open_pull_request(BRANCH, "main", "Grant", "body")
    assert wrong not in str(caught.value)
    assert caught.value.__context__ is None
    assert fake.pulls == {}


def test_a_missing_branch_is_permanent(fake: FakeGitHub) -> None:
    with pytest.raises(ForgePermanentError, match="422"):
        github_forge(fake).open_pull_request("vendor-access/req-9-none", "main", "t", "b")


def test_an_unknown_pull_request_is_permanent(fake: FakeGitHub) -> None:
    with pytest.raises(ForgePermanentError, match="404"):
        github_forge(fake).pull_request_state(999)


def test_an_unreachable_server_is_temporary(fake: FakeGitHub) -> None:
    forge = GitHubForge(
        api_url="http://127.0.0.1:9/api/v3", repository="org/repo", token="t", timeout=2
    )
    with pytest.raises(ForgeTemporaryError, match="ConnectionError"):
        forge.find_open_pull_request(BRANCH)


def test_the_repository_setting_is_checked() -> None:
    with pytest.raises(ForgePermanentError, match="owner/name"):
        GitHubForge(api_url="", repository="just-a-name", token="t")


# --- LocalForge ---------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[FakeGitHub, Mirror]]:
    """A local bare repository (the fake's, server not started) and a mirror of it."""
    repo = FakeGitHub(tmp_path / "local")
    repo.commit_files({"README.md": b"substrate\n", "shared.tf": b"# base\n"})
    yield repo, Mirror(str(repo.repo_path), tmp_path / "cache")
    repo.repo.close()


def push(mirror: Mirror, branch: str, *files: tuple[str, str]) -> str:
    return prepare_branch(
        mirror,
        base_branch="main",
        branch=branch,
        changeset=changeset(*files),
        author=AUTHOR,
        message=f"Change {branch}",
    )


def test_local_forge_opens_once_and_fast_forwards(local: tuple[FakeGitHub, Mirror]) -> None:
    repo, mirror = local
    head = push(mirror, BRANCH, ("orbit-ci.json", "{}\n"))
    store = InMemoryPullRequestStore()
    forge = LocalForge(repo.repo_path, store, url_template="/requests/pulls/{number}/")

    info = forge.open_pull_request(BRANCH, "main", "Grant orbit-ci", "body")
    assert forge.open_pull_request(BRANCH, "main", "again", "body") == info
    assert len(store.records) == 1
    assert info.url == f"/requests/pulls/{info.number}/"
    assert forge.pull_request_state(info.number) is PullRequestState.OPEN

    assert forge.merge(info.number, committer=AUTHOR, sha=head) == head
    assert repo.branch_sha("main") == head
    assert forge.pull_request_state(info.number) is PullRequestState.MERGED
    assert forge.find_open_pull_request(BRANCH) is None
    assert forge.merge(info.number, committer=AUTHOR, sha=head) == head  # idempotent


def test_local_forge_merges_when_the_default_branch_moved_elsewhere(
    local: tuple[FakeGitHub, Mirror],
) -> None:
    repo, mirror = local
    head = push(mirror, BRANCH, ("orbit-ci.json", "{}\n"))
    moved = repo.commit_files({"unrelated.txt": b"someone else\n"})
    forge = LocalForge(repo.repo_path, InMemoryPullRequestStore())
    number = forge.open_pull_request(BRANCH, "main", "Grant", "body").number

    merged = forge.merge(number, committer=AUTHOR, sha=head)

    assert repo.branch_sha("main") == merged
    with Repo(str(repo.repo_path)) as git:
        commit = git[merged.encode()]
        assert isinstance(commit, Commit)
        assert commit.parents == [moved.encode(), head.encode()]
        paths = {e.path for e in git.object_store.iter_tree_contents(commit.tree)}
    assert {b"orbit-ci.json", b"unrelated.txt", b"README.md", b"shared.tf"} <= paths


def test_local_forge_refuses_a_conflicting_default_branch(
    local: tuple[FakeGitHub, Mirror],
) -> None:
    repo, mirror = local
    head = push(mirror, BRANCH, ("orbit-ci.json", "{}\n"))
    moved = repo.commit_files({"orbit-ci.json": b'{"someone": "else"}\n'})
    forge = LocalForge(repo.repo_path, InMemoryPullRequestStore())
    number = forge.open_pull_request(BRANCH, "main", "Grant", "body").number

    with pytest.raises(MergeConflict, match=r"orbit-ci\.json"):
        forge.merge(number, committer=AUTHOR, sha=head)
    assert repo.branch_sha("main") == moved
    assert forge.pull_request_state(number) is PullRequestState.OPEN


def test_local_forge_refuses_a_missing_branch_and_merging_a_closed_one(
    local: tuple[FakeGitHub, Mirror],
) -> None:
    repo, mirror = local
    forge = LocalForge(repo.repo_path, InMemoryPullRequestStore())
    with pytest.raises(ForgePermanentError, match="no branch"):
        forge.open_pull_request("vendor-access/req-1-none", "main", "t", "b")
    head = push(mirror, BRANCH, ("a.json", "{}\n"))
    number = forge.open_pull_request(BRANCH, "main", "t", "b").number
    forge.close(number)
    assert forge.pull_request_state(number) is PullRequestState.CLOSED
    with pytest.raises(ForgePermanentError, match="closed"):
        forge.merge(number, committer=AUTHOR, sha=head)
    assert repo.branch_sha("main") != repo.branch_sha(BRANCH)


def test_local_forge_merges_only_the_approved_commit_not_the_branch_tip(
    local: tuple[FakeGitHub, Mirror],
) -> None:
    repo, mirror = local
    approved = push(mirror, BRANCH, ("orbit-ci.json", "{}\n"))
    store = InMemoryPullRequestStore()
    forge = LocalForge(repo.repo_path, store)
    number = forge.open_pull_request(BRANCH, "main", "Grant", "body").number
    # Pushed to the portal's branch after approval: must never reach the base.
    backdoor = repo.commit_files({"backdoor.json": b'{"Action": "*"}\n'}, branch=BRANCH)
    assert forge.branch_head(BRANCH) == backdoor

    merged = forge.merge(number, committer=AUTHOR, sha=approved)

    assert merged == approved == repo.branch_sha("main")  # fast-forward to the approved one
    with Repo(str(repo.repo_path)) as git:
        commit = git[merged.encode()]
        assert isinstance(commit, Commit)
        paths = {e.path for e in git.object_store.iter_tree_contents(commit.tree)}
    assert b"orbit-ci.json" in paths
    assert b"backdoor.json" not in paths
    assert store.get(number).head_sha == approved  # the record keeps what was merged


def test_local_forge_refuses_a_merge_without_a_known_approved_commit(
    local: tuple[FakeGitHub, Mirror],
) -> None:
    repo, mirror = local
    push(mirror, BRANCH, ("a.json", "{}\n"))
    forge = LocalForge(repo.repo_path, InMemoryPullRequestStore())
    number = forge.open_pull_request(BRANCH, "main", "t", "b").number
    before = repo.branch_sha("main")
    for sha in ("", "0" * 40, "not-a-sha"):
        with pytest.raises(ForgePermanentError):
            forge.merge(number, committer=AUTHOR, sha=sha)
    assert repo.branch_sha("main") == before
    assert forge.pull_request_state(number) is PullRequestState.OPEN


# --- pull_request_body --------------------------------------------------------------------


def body(**overrides: object) -> str:
    values: dict[str, object] = {
        "vendor": "Orbit CI",
        "strategy": "role_per_account",
        "accounts": ["200000000001 payments/production/alpha"],
        "principals": ["arn:aws:iam::123456789012:role/OrbitCi"],
        "external_id_note": "required on every trust statement (sts:ExternalId)",
        "approvers": ["alice", "bob"],
        "expires_at": "2025-12-31",
        "request_url": "https://portal.example.com/requests/42/",
        "changeset": changeset(
            ("orbit-ci.json", "{}\n"),
            commands=(
                Command(
                    ("substrate", "role", "create", "--role", "OrbitCi"), why="create the role"
                ),
                Command(("substrate", "setup"), why="then apply"),
            ),
        ),
    }
    values.update(overrides)
    return pull_request_body(**values)  # type: ignore[arg-type]


def test_body_explains_the_grant() -> None:
    text = body(findings=["W: broad permissions"])
    assert "Orbit CI" in text
    assert "[the access request](https://portal.example.com/requests/42/)" in text
    assert "`arn:aws:iam::123456789012:role/OrbitCi`" in text
    assert "`200000000001 payments/production/alpha`" in text
    assert "alice, bob" in text
    assert "2025\\-12\\-31" in text
    assert "create `orbit-ci.json`" in text
    assert "W\\: broad permissions" in text
    first = text.index("substrate role create --role OrbitCi")
    assert text.index("# create the role") < first < text.index("substrate setup")
    assert text.count("```") == 2


def test_body_escapes_a_hostile_vendor_name() -> None:
    text = body(vendor=HOSTILE, approvers=["@org/security-team", "<b>eve</b>"])
    assert re.search(r"(?<!\\)<", text) is None  # every < is escaped: no HTML at all
    assert "](javascript:" not in text
    assert (
        "\\<img src\\=x onerror\\=alert\\(1\\)\\> \\[link\\]\\(javascript\\:alert\\(1\\)\\)" in text
    )
    assert re.search(r"@[A-Za-z0-9]", text) is None  # no mention GitHub would notify


def test_body_does_not_link_a_non_http_request_url() -> None:
    text = body(request_url="javascript:alert(1)")
    assert "](javascript" not in text
    assert "`javascript:alert(1)`" in text


def test_body_is_truncated_below_githubs_limit() -> None:
    many = tuple((f"policies/orbit-ci-{i:05}.json", "{}\n") for i in range(3_000))
    commands = tuple(
        Command(("substrate", "role", "create", f"--role=R{i}" + "x" * 60)) for i in range(2_000)
    )
    text = body(changeset=changeset(*many, commands=commands))
    assert len(text) <= GITHUB_BODY_LIMIT
    assert len(text.encode("utf-16-le")) // 2 <= GITHUB_BODY_LIMIT
    assert "**Truncated:**" in text
    assert "https://portal.example.com/requests/42/" in text.split("**Truncated:**")[1]
    assert text.count("```") % 2 == 0  # no fence left open
    assert "policies/orbit-ci-00000.json" in text


def test_a_short_body_is_not_truncated() -> None:
    assert "Truncated" not in body()


def test_markdown_helpers() -> None:
    assert md_text("a*b_c") == "a\\*b\\_c"
    assert md_text("line\nbreak\u2028x") == "line break x"
    assert md_code("has `tick` here") == "``has `tick` here``"
    assert md_code("`edge") == "`` `edge ``"
    assert len(md_text("x" * 1_000)) == 300
