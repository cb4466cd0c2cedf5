"""The one parser of SUBSTRATE_REPO_URL: local paths, remote URLs, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.repo_url import RepoUrlError, local_repo_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/srv/substrate.git", Path("/srv/substrate.git")),
        ("relative/substrate.git", Path("relative/substrate.git")),
        ("  /srv/substrate.git\n", Path("/srv/substrate.git")),
        ("file:///srv/substrate.git", Path("/srv/substrate.git")),
        ("file://localhost/srv/substrate.git", Path("/srv/substrate.git")),
        ("file://LOCALHOST/srv/substrate.git", Path("/srv/substrate.git")),
        ("file:///srv/with%20space.git", Path("/srv/with space.git")),
    ],
)
def test_local_locations_are_paths(url, path):
    assert local_repo_path(url) == path


def test_a_home_path_is_expanded():
    assert local_repo_path("~/substrate.git") == Path.home() / "substrate.git"


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/substrate.git",
        "http://x-access-token:secret@127.0.0.1:8080/o/r.git",
        "ssh://git@example.com/substrate.git",
        "git+ssh://git@example.com/substrate.git",
        "git@github.com:example/substrate.git",
    ],
)
def test_remote_urls_are_none(url):
    assert local_repo_path(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("file://otherhost/srv/substrate.git", "another host"),
        ("file://localhost", "no absolute path"),
        ("ftp://user:hunter2hunter2@example.com/substrate.git", "unsupported scheme 'ftp'"),
        ("git://example.com/substrate.git", "unsupported scheme 'git'"),
    ],
)
def test_anything_else_is_a_clear_error_without_the_url(url, reason):
    with pytest.raises(RepoUrlError, match=reason) as caught:
        local_repo_path(url)
    assert "hunter2" not in str(caught.value)


def test_the_preview_checkout_reads_file_localhost_as_an_absolute_path(tmp_path):
    import subprocess

    from provisioning.checkout import default_branch_checkout
    from tests.fixtures.substrate_repo import build_repo

    repo = build_repo(tmp_path / "substrate", version="2024.08")
    _commit_all(repo.root)
    head = subprocess.run(
        ["git", "rev-parse", "main"], cwd=repo.root, check=True, capture_output=True, text=True
    ).stdout.strip()
    with default_branch_checkout(f"file://localhost{repo.root}", "main") as (folder, commit):
        assert commit == head
        assert (folder / "substrate.environments").is_file()


def _commit_all(folder: Path) -> None:
    import subprocess

    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "i"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True)
