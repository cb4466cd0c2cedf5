"""The demo Substrate repository of `make run`: a bare git repository matching the demo org.

`seed_demo` calls `seed_demo_repository`. When SUBSTRATE_REPO_URL is a local path where nothing
exists yet (by default `var/substrate.git`), it creates a bare repository there with one commit
on SUBSTRATE_DEFAULT_BRANCH: the Substrate layout of the demo organization
(demo/aws_org.py) with the emulator's account ids in its providers.tf files. Anything
already at that path is left alone, so a repository's history (and the local forge's branches)
survive every later run. Pure Python (dulwich); no git needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from django.conf import settings
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit
from dulwich.repo import Repo

from demo import aws_org as demo_org
from provisioning.repo_url import RepoUrlError, local_repo_path
from provisioning.substrate_layout import render_layout

AUTHOR = "Vendor access portal demo <demo@localhost>"
MESSAGE = (
    "Substrate repository of the demo organization\n"
    "\n"
    f"Substrate {demo_org.SUBSTRATE_VERSION} layout for the accounts of the AWS emulator's demo\n"
    "organization, created by `manage.py seed_demo`.\n"
)
_FILE_MODE = 0o100644


def demo_repo_files(account_ids: Mapping[str, str]) -> dict[str, str]:
    """The demo repository's files (path -> text), given demo account name -> id."""
    return render_layout(demo_org.layout_spec(account_ids))


def create_bare_repository(
    path: str | os.PathLike[str],
    files: Mapping[str, str],
    *,
    branch: str,
    message: str = MESSAGE,
    author: str = AUTHOR,
) -> str:
    """Creates a bare repository at `path` with one commit of `files` on `branch`; its id.

    The repository is built in a temporary folder beside `path` and renamed into place, so an
    interrupted run leaves nothing half-made. FileExistsError when something is at `path`.
    """
    target = Path(path)
    if os.path.lexists(target):
        raise FileExistsError(f"{target} exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        ref = f"refs/heads/{branch}".encode()
        with Repo.init_bare(str(staging)) as repo:
            entries = []
            for rel, text in sorted(files.items()):
                blob = Blob.from_string(text.encode("utf-8"))
                repo.object_store.add_object(blob)
                entries.append((rel.encode("utf-8"), blob.id, _FILE_MODE))
            commit = Commit()
            commit.tree = commit_tree(repo.object_store, entries)
            commit.author = commit.committer = author.encode("utf-8")
            commit.author_time = commit.commit_time = int(time.time())
            commit.author_timezone = commit.commit_timezone = 0
            commit.encoding = b"UTF-8"
            commit.message = message.encode("utf-8")
            repo.object_store.add_object(commit)
            repo.refs[ref] = commit.id  # type: ignore[index]  # dulwich's Ref is bytes
            repo.refs.set_symbolic_ref(b"HEAD", ref)  # type: ignore[arg-type]
        if os.path.lexists(target):  # someone else was quicker: theirs stays
            raise FileExistsError(f"{target} exists")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return commit.id.decode("ascii")


def seed_demo_repository(account_ids: Callable[[], Mapping[str, str]]) -> str:
    """Creates the demo repository at SUBSTRATE_REPO_URL if it is local and absent; says what.

    `account_ids` gives demo account name -> id (`aws_emulator.demo_account_ids`); it is only
    called when the repository is to be created. Never touches an existing path.
    """
    url = settings.SUBSTRATE_REPO_URL
    branch = settings.SUBSTRATE_DEFAULT_BRANCH
    try:
        path = local_repo_path(url)
    except RepoUrlError as exc:
        return f"Substrate repository: {exc} No demo repository created."
    if path is None:
        return f"Substrate repository: {url} is not local; no demo repository created."
    if os.path.lexists(path):
        return f"Substrate repository: {path} exists; left as it is."
    if not settings.AWS_ENDPOINT_URL:
        return (
            "Substrate repository: AWS_ENDPOINT_URL is empty (real AWS); no demo repository "
            "created for accounts that do not exist there."
        )
    try:
        ids = account_ids()
    except ImportError:
        return (
            "Substrate repository: moto is not installed (pip install -e '.[local]'), so the "
            "demo accounts' ids are unknown; no demo repository created."
        )
    try:
        commit = create_bare_repository(path, demo_repo_files(ids), branch=branch)
    except FileExistsError:
        return f"Substrate repository: {path} exists; left as it is."
    return f"Substrate repository: demo repository created at {path} ({branch} at {commit[:12]})."
