"""The cached mirror, `prepare_branch` and branch names, against real git over smart-HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.objects import Commit
from dulwich.repo import Repo

from provisioning.gitrepo import (
    BranchNameError,
    GitError,
    GitRemoteError,
    Mirror,
    PushRefused,
    branch_name,
    export_tree,
    prepare_branch,
    validate_branch,
)
from provisioning.substrate import (
    ChangeSet,
    Dialect,
    FileAction,
    FileChange,
    Grant,
    Strategy,
    TargetAccount,
    apply_changeset,
    generate_changeset,
)
from tests.fakes.github import FakeGitHub
from tests.fixtures.substrate_repo import FixtureRepo, build_repo, snapshot

pytestmark = pytest.mark.pure

AUTHOR = "Vendor Access Portal <portal@example.com>"
BRANCH = "vendor-access/req-42-orbit-ci"


@pytest.fixture
def substrate(tmp_path: Path) -> FixtureRepo:
    return build_repo(tmp_path / "substrate", version="2024.08")


@pytest.fixture
def fake(tmp_path: Path, substrate: FixtureRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", token="ghs_SECRETtoken123") as server:
        server.commit_directory(substrate.root)
        yield server


@pytest.fixture
def mirror(fake: FakeGitHub, tmp_path: Path) -> Mirror:
    return Mirror(fake.git_url, tmp_path / "cache", token=fake.token)


def grant_for(repo: FixtureRepo, vendor: str = "orbit-ci") -> Grant:
    accounts = tuple(
        TargetAccount(a.id, a.domain, a.environment, a.quality)
        for a in repo.services("payments")
        if a.environment == "production"
    )
    return Grant(
        vendor=vendor,
        strategy=Strategy.ROLE_PER_ACCOUNT,
        role_name="OrbitCiReadOnly",
        principals=("arn:aws:iam::123456789012:role/OrbitCi",),
        external_id="orbit-7Hq2",
        accounts=accounts,
        managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
        request_id="42",
    )


def tree_of(fake: FakeGitHub, sha: str, into: Path) -> dict[str, bytes]:
    with Repo(str(fake.repo_path)) as repo:
        commit = repo[sha.encode()]
        assert isinstance(commit, Commit)
        export_tree(repo, commit.tree, into)
    return snapshot(into)


def commit_of(fake: FakeGitHub, sha: str) -> Commit:
    with Repo(str(fake.repo_path)) as repo:
        commit = repo[sha.encode()]
    assert isinstance(commit, Commit)
    return commit


def pushes(fake: FakeGitHub) -> int:
    return sum(1 for method, path in fake.requests if path.endswith("/git-receive-pack"))


# --- the mirror -------------------------------------------------------------------------------


def test_mirror_is_cloned_once_then_fetched(fake: FakeGitHub, tmp_path: Path) -> None:
    first = Mirror(fake.git_url, tmp_path / "cache", token=fake.token)
    heads = first.sync()
    assert heads == {"main": fake.branch_sha("main")}
    assert first.clones == 1
    marker = first.path / "portal-marker"
    marker.write_text("kept")  # a re-clone would start from an empty folder

    upstream = fake.commit_files({"README.md": b"someone else's change\n"})
    again = Mirror(fake.git_url, tmp_path / "cache", token=fake.token)  # next task, same cache
    assert again.path == first.path
    assert again.sync()["main"] == upstream
    assert again.clones == 0
    assert marker.read_text() == "kept"
    with Repo(str(again.path)) as repo:
        assert repo[upstream.encode()] is not None


def test_mirror_prunes_branches_deleted_upstream(fake: FakeGitHub, mirror: Mirror) -> None:
    fake.commit_files({"x": b"1"}, branch="someone/else")
    assert "someone/else" in mirror.sync()
    with Repo(str(fake.repo_path)) as repo:
        del repo.refs[b"refs/heads/someone/else"]  # type: ignore[arg-type]  # dulwich's Ref
    assert "someone/else" not in mirror.sync()
    with Repo(str(mirror.path)) as repo:
        assert b"refs/heads/someone/else" not in repo.refs  # type: ignore[operator]


def test_mirror_of_a_local_bare_repository(tmp_path: Path, substrate: FixtureRepo) -> None:
    local = FakeGitHub(tmp_path / "local")  # not started: only its bare repository is used
    base = local.commit_directory(substrate.root)
    changeset = generate_changeset(substrate.root, grant_for(substrate))
    mirror = Mirror(str(local.repo_path), tmp_path / "cache")
    sha = prepare_branch(
        mirror, base_branch="main", branch=BRANCH, changeset=changeset, author=AUTHOR, message="m"
    )
    assert local.branch_sha(BRANCH) == sha
    assert local.branch_sha("main") == base
    local.repo.close()


# --- prepare_branch ---------------------------------------------------------------------------


def test_prepare_branch_pushes_base_plus_changeset(
    fake: FakeGitHub, mirror: Mirror, substrate: FixtureRepo, tmp_path: Path
) -> None:
    base = fake.branch_sha("main")
    changeset = generate_changeset(substrate.root, grant_for(substrate))
    assert changeset.files

    sha = prepare_branch(
        mirror,
        base_branch="main",
        branch=BRANCH,
        changeset=changeset,
        author=AUTHOR,
        message="Grant orbit-ci read-only access\n\nRequest 42",
    )

    assert fake.branch_sha(BRANCH) == sha
    assert fake.branch_sha("main") == base  # the default branch never moves
    commit = commit_of(fake, sha)
    assert base is not None
    assert commit.parents == [base.encode()]
    assert commit.author == AUTHOR.encode()
    assert commit.message.startswith(b"Grant orbit-ci read-only access")
    expected_root = tmp_path / "expected"
    shutil.copytree(substrate.root, expected_root)
    apply_changeset(expected_root, changeset)
    assert tree_of(fake, sha, tmp_path / "pushed") == snapshot(expected_root)


def test_prepare_branch_twice_makes_one_commit(
    fake: FakeGitHub, mirror: Mirror, substrate: FixtureRepo
) -> None:
    changeset = generate_changeset(substrate.root, grant_for(substrate))
    kwargs = {"base_branch": "main", "branch": BRANCH, "changeset": changeset, "author": AUTHOR}
    first = prepare_branch(mirror, message="first", **kwargs)  # type: ignore[arg-type]
    pushed = pushes(fake)

    retry = Mirror(fake.git_url, mirror.path.parent, token=fake.token)  # a retried task
    second = prepare_branch(retry, message="second", **kwargs)  # type: ignore[arg-type]

    assert second == first
    assert fake.branch_sha(BRANCH) == first
    assert pushes(fake) == pushed  # nothing sent at all
    assert commit_of(fake, first).message == b"first\n"


def test_a_different_changeset_force_updates_only_the_portal_branch(
    fake: FakeGitHub, mirror: Mirror, substrate: FixtureRepo, tmp_path: Path
) -> None:
    base = fake.branch_sha("main")
    first = prepare_branch(
        mirror,
        base_branch="main",
        branch=BRANCH,
        changeset=generate_changeset(substrate.root, grant_for(substrate)),
        author=AUTHOR,
        message="v1",
    )
    other = ChangeSet(
        vendor="orbit-ci",
        strategy=Strategy.ROLE_PER_ACCOUNT,
        dialect=Dialect.ROLE_CREATE,
        substrate_version="2024.08",
        revoke=False,
        files=(FileChange("orbit-ci.txt", FileAction.CREATE, "regenerated\n"),),
    )
    second = prepare_branch(
        mirror, base_branch="main", branch=BRANCH, changeset=other, author=AUTHOR, message="v2"
    )
    assert second != first
    assert fake.branch_sha(BRANCH) == second
    assert base is not None
    assert commit_of(fake, second).parents == [base.encode()]  # rebuilt on main, not on v1
    assert fake.branch_sha("main") == base
    pushed = tree_of(fake, second, tmp_path / "pushed")
    assert pushed["orbit-ci.txt"] == b"regenerated\n"
    assert pushed == {**snapshot(substrate.root), "orbit-ci.txt": b"regenerated\n"}


def test_a_changeset_computed_on_an_older_tree_is_refused(
    fake: FakeGitHub, mirror: Mirror, substrate: FixtureRepo
) -> None:
    changeset = generate_changeset(substrate.root, grant_for(substrate))
    # Someone adds the very file the change set creates, after it was computed.
    fake.commit_files({changeset.files[0].path: b"# written by a human meanwhile\n"})
    with pytest.raises(GitError, match="does not apply"):
        prepare_branch(
            mirror,
            base_branch="main",
            branch=BRANCH,
            changeset=changeset,
            author=AUTHOR,
            message="m",
        )
    assert fake.branch_sha(BRANCH) is None
    assert pushes(fake) == 0


@pytest.mark.parametrize("branch", ["main", "master", "production", "feature/x", "vendor-access"])
def test_refuses_to_push_the_default_or_a_foreign_branch(
    fake: FakeGitHub, mirror: Mirror, branch: str
) -> None:
    before = fake.branch_sha("main")
    changeset = ChangeSet(
        vendor="x",
        strategy=Strategy.AUDITOR,
        dialect=Dialect.ROLE_CREATE,
        substrate_version="2024.08",
        revoke=False,
        files=(FileChange("x.txt", FileAction.CREATE, "x\n"),),
    )
    with pytest.raises(PushRefused):
        prepare_branch(
            mirror,
            base_branch="main",
            branch=branch,
            changeset=changeset,
            author=AUTHOR,
            message="m",
        )
    assert fake.branch_sha("main") == before
    assert pushes(fake) == 0


def test_refuses_a_custom_default_branch_even_under_the_prefix(mirror: Mirror) -> None:
    changeset = ChangeSet("x", Strategy.AUDITOR, Dialect.ROLE_CREATE, "2024.08", revoke=False)
    with pytest.raises(PushRefused):
        prepare_branch(
            mirror,
            base_branch="vendor-access/base",
            branch="vendor-access/base",
            changeset=changeset,
            author=AUTHOR,
            message="m",
        )


def test_an_empty_changeset_is_not_committed(fake: FakeGitHub, mirror: Mirror) -> None:
    empty = ChangeSet("x", Strategy.AUDITOR, Dialect.ROLE_CREATE, "2024.08", revoke=False)
    with pytest.raises(GitError, match="empty"):
        prepare_branch(
            mirror, base_branch="main", branch=BRANCH, changeset=empty, author=AUTHOR, message="m"
        )
    assert fake.branch_sha(BRANCH) is None


# --- secrets ----------------------------------------------------------------------------------


def test_a_bad_token_fails_without_showing_it(fake: FakeGitHub, tmp_path: Path) -> None:
    secret = "ghs_WRONGbutSECRET/+=value"
    mirror = Mirror(fake.git_url, tmp_path / "cache", token=secret)
    with pytest.raises(GitRemoteError) as caught:
        mirror.sync()
    text = str(caught.value)
    assert "401" in text or "Unauthorized" in text or "credentials" in text
    assert secret not in text
    assert "WRONGbutSECRET" not in repr(caught.value)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert secret not in repr(mirror)


def test_the_token_never_reaches_the_mirror_on_disk(
    fake: FakeGitHub, tmp_path: Path, substrate: FixtureRepo
) -> None:
    # Also given inside the URL, as people paste it: it is split off, not stored.
    url = fake.git_url.replace("http://", f"http://x-access-token:{fake.token}@")
    mirror = Mirror(url, tmp_path / "cache")
    assert mirror.remote.url == fake.git_url
    sha = prepare_branch(
        mirror,
        base_branch="main",
        branch=BRANCH,
        changeset=generate_changeset(substrate.root, grant_for(substrate)),
        author=AUTHOR,
        message="m",
    )
    assert fake.branch_sha(BRANCH) == sha
    assert fake.token not in repr(mirror)
    assert fake.token not in str(mirror.path)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert any(p.name == "config" for p in files)
    for path in files:
        assert fake.token.encode() not in path.read_bytes(), path


# --- branch names -----------------------------------------------------------------------------


def test_branch_name_is_derived_from_request_and_vendor() -> None:
    assert branch_name(42, "orbit-ci") == "vendor-access/req-42-orbit-ci"
    assert branch_name("42", "Orbit CI") == "vendor-access/req-42-orbit-ci"
    assert branch_name(7, "") == "vendor-access/req-7"


@pytest.mark.parametrize(
    "vendor",
    [
        "..",
        "a..b",
        "x@{1}",
        "has space",
        "ctl\x00\x07\x1b",
        "-leading",
        "name.lock",
        "../../refs/heads/main",
        "~^:?*[\\",
        "Ünïcödé/ñame",
        "x" * 500,
    ],
)
def test_branch_name_neutralizes_hostile_vendor_slugs(vendor: str) -> None:
    name = branch_name(42, vendor)
    assert validate_branch(name) == name
    assert name.startswith("vendor-access/req-42")
    assert len(name) <= 120
    assert name.count("/") == 1


@pytest.mark.parametrize("request_id", ["", "..", "@{", "\x00"])
def test_branch_name_refuses_a_request_id_that_leaves_nothing(request_id: str) -> None:
    with pytest.raises(BranchNameError):
        branch_name(request_id, "orbit")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a..b",
        "a@{1}",
        "with space",
        "tab\there",
        "bell\x07",
        "del\x7f",
        "-leading",
        "vendor-access/x.lock",
        "x.lock",
        "ends/",
        "ends.",
        "/starts",
        "a//b",
        ".hidden",
        "dir/.hidden",
        "@",
        "colon:x",
        "star*",
        "question?",
        "bracket[",
        "back\\slash",
        "tilde~1",
        "caret^",
        "é",
    ],
)
def test_validate_branch_applies_git_ref_rules(name: str) -> None:
    with pytest.raises(BranchNameError):
        validate_branch(name)


@pytest.mark.parametrize("name", ["vendor-access/req-1-x", "a/b/c", "a-b_c.d", "a@b"])
def test_validate_branch_accepts_ordinary_names(name: str) -> None:
    assert validate_branch(name) == name
