"""Reads the Substrate repository's naming files straight from git, without a checkout.

The account sync cross-checks the inventory against `substrate.environments`,
`substrate.qualities` and `substrate.valid-environment-quality-pairs.json` on the default
branch. Only a repository on this machine is read (a path or a `file://` URL, bare or not);
a remote one is not cloned for this check, and the caller reports it as not readable.
"""

from __future__ import annotations

import logging
import stat
from typing import Any

from dulwich.errors import NotGitRepository
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from provisioning.inventory import ENVIRONMENTS_FILE, PAIRS_FILE, QUALITIES_FILE, RepoFiles
from provisioning.repo_url import RepoUrlError, local_repo_path

logger = logging.getLogger(__name__)

# The files are a few lines each; a huge blob is not a Substrate naming file.
_MAX_FILE_BYTES = 1024 * 1024


def _blob_text(repo: Repo, tree: Tree, name: str) -> str | None:
    try:
        mode, sha = tree[name.encode()]
    except KeyError:
        return None
    if not stat.S_ISREG(mode):
        return None
    blob = repo[sha]
    if not isinstance(blob, Blob) or len(blob.data) > _MAX_FILE_BYTES:
        return None
    return blob.data.decode("utf-8", errors="replace")


def read_substrate_files(url: str, branch: str) -> RepoFiles | None:
    """The naming files on `branch` of the repository at `url`, or None when it cannot be read.

    None means: not a local path (or not a valid repository URL), no git repository there, or
    no such branch. A file absent from the branch is None inside the result (the cross-check
    reports it).
    """
    try:
        path = local_repo_path(url)
    except RepoUrlError as exc:
        logger.warning("%s Naming files not read.", exc)
        return None
    if path is None:
        logger.info("Substrate repository %s is not local; naming files not read", url)
        return None
    try:
        repo = Repo(str(path))
    except (NotGitRepository, OSError) as exc:
        logger.info("no git repository at %s: %s", path, exc)
        return None
    try:
        try:
            refs: Any = repo.refs  # dulwich's Ref type differs between releases
            commit = repo[refs[b"refs/heads/" + branch.encode()]]
        except KeyError:
            logger.info("repository %s has no branch %s", path, branch)
            return None
        if not isinstance(commit, Commit):
            return None
        tree = repo[commit.tree]
        if not isinstance(tree, Tree):
            return None
        return RepoFiles(
            environments=_blob_text(repo, tree, ENVIRONMENTS_FILE),
            qualities=_blob_text(repo, tree, QUALITIES_FILE),
            pairs=_blob_text(repo, tree, PAIRS_FILE),
        )
    except (KeyError, OSError, ValueError) as exc:  # missing objects, unreadable packs
        logger.warning("cannot read the Substrate repository at %s: %s", path, exc)
        return None
    finally:
        repo.close()
