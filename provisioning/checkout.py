"""A throw-away checkout of the Substrate repository's default branch, for previews.

Reads the repository named by SUBSTRATE_REPO_URL when it is a local path (bare or not) with
dulwich, writing the branch's tree into a temporary folder with `gitrepo.export_tree`. Remote
repositories are fetched by the fulfilment worker's cached mirror instead.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from provisioning.gitrepo import export_tree
from provisioning.repo_url import RepoUrlError, local_repo_path


class RepositoryUnavailable(Exception):
    """The Substrate repository cannot be read here (not local, missing, or no such branch)."""


@contextlib.contextmanager
def default_branch_checkout(url: str, branch: str) -> Iterator[tuple[Path, str]]:
    """Yields (folder, commit id) of `branch`'s tree written to a temporary folder."""
    try:
        path = local_repo_path(url)
    except RepoUrlError as exc:
        raise RepositoryUnavailable(str(exc)) from None
    if path is None:
        raise RepositoryUnavailable(f"{url} is not a local repository.")
    try:
        repo = Repo(str(path))
    except (NotGitRepository, FileNotFoundError) as exc:
        raise RepositoryUnavailable(f"No git repository at {path}.") from exc
    with repo:
        try:
            commit_id = repo.refs[f"refs/heads/{branch}".encode()]  # type: ignore[index]
        except KeyError as exc:
            raise RepositoryUnavailable(f"The repository has no branch {branch!r}.") from exc
        tree_id = repo[commit_id].tree  # type: ignore[attr-defined]
        with tempfile.TemporaryDirectory(prefix="substrate-preview-") as folder:
            root = Path(folder)
            # Symlinks have no place in a preview: the generator would read through them.
            export_tree(repo, tree_id, root, symlinks=False)
            yield root, commit_id.decode()
