"""Reading the naming files from a real git repository (bare or not) without a checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from demo import aws_org as demo_org
from provisioning.repo_files import read_substrate_files
from provisioning.repo_url import RepoUrlError, local_repo_path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, env={**os.environ, **GIT_ENV})


def commit_files(work: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)


@pytest.fixture
def repos(tmp_path):
    """A working repository with `main` and `other` branches, pushed to a bare one."""
    work, bare = tmp_path / "work", tmp_path / "substrate.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    commit_files(work, demo_org.repo_files(), "Substrate naming files")
    git("checkout", "-q", "-b", "other", cwd=work)
    commit_files(work, {"substrate.environments": "elsewhere\n"}, "other branch")
    git("push", "-q", str(bare), "main", "other", cwd=work)
    return work, bare


def test_reads_the_default_branch_of_a_bare_repository(repos):
    _, bare = repos
    files = read_substrate_files(str(bare), "main")
    assert files is not None
    assert files.environments == demo_org.environments_file()
    assert files.qualities == demo_org.qualities_file()
    assert files.pairs == demo_org.pairs_file()


def test_reads_the_named_branch_not_the_checkout(repos):
    work, _ = repos
    # The working tree is on `other`, with an uncommitted edit: neither may leak in.
    (work / "substrate.qualities").write_text("uncommitted\n")
    files = read_substrate_files(str(work), "main")
    assert files is not None
    assert files.environments == demo_org.environments_file()
    assert files.qualities == demo_org.qualities_file()
    other = read_substrate_files(f"file://{work}", "other")
    assert other is not None
    assert other.environments == "elsewhere\n"


def test_a_missing_file_is_none_inside_the_result(tmp_path):
    work = tmp_path / "w"
    git("init", "-q", "-b", "main", str(work))
    commit_files(work, {"substrate.qualities": "alpha\n"}, "only qualities")
    files = read_substrate_files(str(work), "main")
    assert files is not None
    assert files.qualities == "alpha\n"
    assert files.environments is None
    assert files.pairs is None


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/substrate.git",
        "ssh://git@example.com/substrate.git",
        "git@github.com:example/substrate.git",
    ],
)
def test_remote_urls_are_not_read(url):
    assert local_repo_path(url) is None
    assert read_substrate_files(url, "main") is None


@pytest.mark.parametrize("url", ["file://otherhost/srv/substrate.git", ""])
def test_invalid_urls_are_not_read(url):
    with pytest.raises(RepoUrlError):
        local_repo_path(url)
    assert read_substrate_files(url, "main") is None


def test_reads_a_file_localhost_url_as_an_absolute_path(repos):
    _, bare = repos
    files = read_substrate_files(f"file://localhost{bare}", "main")
    assert files is not None
    assert files.qualities == demo_org.qualities_file()


def test_unreadable_locations_give_none(repos, tmp_path):
    _, bare = repos
    assert read_substrate_files(str(tmp_path / "nothing-here"), "main") is None
    (tmp_path / "plain").mkdir()
    assert read_substrate_files(str(tmp_path / "plain"), "main") is None
    assert read_substrate_files(str(bare), "no-such-branch") is None
