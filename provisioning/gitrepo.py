"""The Substrate repository as the fulfilment worker sees it: a cached mirror, and branches.

`Mirror` keeps a bare clone of the remote under a cache folder and *fetches* into it on each
use (DESIGN.md section 3: never a fresh clone per request). `prepare_branch` turns a
`ChangeSet` into one commit on the portal's own branch and pushes it; `branch_name` derives
that branch from the request.

Secrets: the remote URL is stored without credentials, the token is handed to dulwich per
operation (HTTP basic auth), and every error leaving this module is rebuilt from a scrubbed
message with no exception chain, so the token reaches neither logs, tracebacks nor the
mirror's `config` file.

Safety (DESIGN.md section 6, "the portal never pushes to the default branch"): pushes touch
exactly one ref, which must carry the portal's branch prefix and must not be the base branch
or a protected name; a force update is only ever applied to that ref.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import stat
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from dulwich.client import get_transport_and_path
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from provisioning.substrate import ChangeSet, FileAction, SubstrateError, apply_changeset

logger = logging.getLogger(__name__)
T = TypeVar("T")

BRANCH_PREFIX = "vendor-access/"
# Never pushed to, whatever the configured default branch is called.
PROTECTED_BRANCHES = frozenset(
    {"main", "master", "trunk", "develop", "development", "production", "release", "HEAD"}
)
_ZERO_SHA = b"0" * 40
_REGULAR = 0o100644
_EXECUTABLE = 0o100755
_SLUG_PART = re.compile(r"[^a-z0-9]+")


class GitError(Exception):
    """A git operation on the Substrate repository failed (message free of credentials)."""


class GitRemoteError(GitError):
    """The remote could not be reached or refused the operation; worth retrying later."""


class BranchNameError(GitError, ValueError):
    """A branch name git would refuse, or one the portal must never push to."""


class PushRefused(GitError):
    """The push would touch the default branch or a protected branch."""


# --- branch names ---------------------------------------------------------------------------


def validate_branch(name: str) -> str:
    """Returns `name` if git accepts it as a branch name (`git check-ref-format --branch`)."""
    problems = []
    if not name or len(name) > 200:
        problems.append("must be 1 to 200 characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        problems.append("contains a control character")
    if any(c in name for c in " ~^:?*[\\"):
        problems.append("contains a space or one of ~ ^ : ? * [ \\")
    if ".." in name or "@{" in name or "//" in name:
        problems.append("contains '..', '@{' or '//'")
    if name == "@" or name.startswith(("-", "/")) or name.endswith(("/", ".")):
        problems.append("starts with '-' or '/', ends with '/' or '.', or is '@'")
    for component in name.split("/"):
        if component.startswith(".") or component.endswith(".lock"):
            problems.append("has a component starting with '.' or ending with '.lock'")
            break
    if not name.isascii():
        # Git allows it, but forges and shells render non-ASCII names inconsistently.
        problems.append("is not ASCII")
    if problems:
        raise BranchNameError(f"Invalid branch name {name!r}: {'; '.join(problems)}.")
    return name


def _slug(value: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _SLUG_PART.sub("-", ascii_text.lower()).strip("-")[:limit].strip("-")


def branch_name(request_id: int | str, vendor_slug: str, *, kind: str = "req") -> str:
    """The portal's branch for one access request: `vendor-access/req-42-orbit-ci`, or
    `vendor-access/revoke-42-orbit-ci` for its revocation (`kind="revoke"`).

    Pure and deterministic, so a retried task finds the branch (and its pull request) that
    an earlier attempt created. Hostile inputs are reduced to `[a-z0-9-]`; a request id that
    leaves nothing is refused rather than guessed.
    """
    request = _slug(str(request_id), 40)
    if not request:
        raise BranchNameError(f"Request id {request_id!r} gives an empty branch name.")
    vendor = _slug(vendor_slug, 60)
    if kind not in ("req", "revoke"):
        raise BranchNameError(f"Unknown branch kind {kind!r}.")
    name = f"{BRANCH_PREFIX}{kind}-{request}" + (f"-{vendor}" if vendor else "")
    return validate_branch(name)


def check_pushable(branch: str, base_branch: str) -> None:
    """Raises `PushRefused` unless `branch` is one of the portal's own branches."""
    validate_branch(branch)
    if branch == base_branch or branch in PROTECTED_BRANCHES:
        raise PushRefused(f"Refusing to push to {branch!r}: it is the default or protected.")
    if not branch.startswith(BRANCH_PREFIX):
        # The portal force-updates its branches; it must only ever do that to its own.
        raise PushRefused(f"Refusing to push to {branch!r}: not under {BRANCH_PREFIX!r}.")


# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    """A remote URL without credentials, and the credentials sent with each operation."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, *, token: str | None = None, username: str | None = None) -> Remote:
        """Splits `user:token@` out of an http(s) URL; `token` (if given) wins over the URL's.

        GitHub accepts any user name with a token ("x-access-token" by convention), GitLab
        wants "oauth2".
        """
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and (parts.username or parts.password):
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
            user = username or (unquote(parts.username) if parts.username else None)
            password = token or (unquote(parts.password) if parts.password else None)
            return cls(clean, user, password)
        if token:
            return cls(url, username or "x-access-token", token)
        return cls(url)

    def scrub(self, text: str) -> str:
        """`text` with the password (raw and URL-encoded) replaced by `***`."""
        if self.password and len(self.password) >= 8:  # shorter ones are test values
            for secret in {self.password, _quote(self.password)}:
                text = text.replace(secret, "***")
        return text


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _remote_call(remote: Remote, action: str, call: Callable[[], T]) -> T:
    """Runs `call`, turning dulwich/urllib3/OS errors into `GitRemoteError`, scrubbed.

    The error is raised after the `except` block has finished, so it has no `__context__`:
    a traceback of the original (which may quote the request) never reaches a log or an
    error report. (A context manager cannot do this: its `__exit__` runs while the original
    exception is still being handled.)
    """
    message = None
    try:
        return call()
    except GitError:
        raise
    except (GitProtocolError, HangupException, NotGitRepository, OSError) as exc:
        message = f"{action} {remote.url} failed: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001  urllib3 and dulwich raise many kinds; all are remote
        message = f"{action} {remote.url} failed: {type(exc).__name__}: {exc}"
    raise GitRemoteError(remote.scrub(message))


# --- the mirror -----------------------------------------------------------------------------


class Mirror:
    """A bare clone of the Substrate repository under `cache_dir`, fetched on each `sync`.

    One folder per remote URL (credentials excluded, so a rotated token reuses the cache).
    A file lock serializes workers that share the cache folder.
    """

    def __init__(
        self,
        url: str,
        cache_dir: str | os.PathLike[str],
        *,
        token: str | None = None,
        username: str | None = None,
    ) -> None:
        self.remote = Remote.parse(url, token=token, username=username)
        digest = hashlib.sha256(self.remote.url.encode()).hexdigest()[:16]
        name = _slug(PurePosixPath(urlsplit(self.remote.url).path).name, 40) or "repo"
        self.path = Path(cache_dir) / f"{name}-{digest}.git"
        self.clones = 0  # how many times this object had to create the cache (for tests)

    def __repr__(self) -> str:
        return f"Mirror({self.remote.url!r}, path={str(self.path)!r})"

    @contextlib.contextmanager
    def locked(self) -> Iterator[Repo]:
        """The mirror repository, held under an exclusive lock (created if missing)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not (self.path / "objects").is_dir():
                    self.path.mkdir(exist_ok=True)
                    Repo.init_bare(str(self.path)).close()
                    self.clones += 1
                    logger.info("Created mirror of %s at %s", self.remote.url, self.path)
                with Repo(str(self.path)) as repo:
                    yield repo
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _client(self) -> tuple[Any, str]:
        return get_transport_and_path(
            self.remote.url, username=self.remote.username, password=self.remote.password
        )

    def _fetch(self, repo: Repo) -> dict[str, str]:
        """Fetches every branch into `repo`, pruning deleted ones; returns branch -> sha."""

        def wants(refs: Mapping[bytes, bytes], depth: int | None = None) -> list[bytes]:
            return [
                sha
                for ref, sha in refs.items()
                if ref.startswith(b"refs/heads/") and ObjectID(sha) not in repo.object_store
            ]

        def fetch() -> Any:
            client, path = self._client()
            return client.fetch(path, repo, determine_wants=wants)

        result = _remote_call(self.remote, "Fetching", fetch)
        remote_heads = {
            ref: sha
            for ref, sha in (result.refs or {}).items()
            if ref.startswith(b"refs/heads/") and sha is not None
        }
        for ref in list(repo.refs.keys(base=Ref(b"refs/heads/"))):
            if b"refs/heads/" + ref not in remote_heads:
                repo.refs.remove_if_equals(Ref(b"refs/heads/" + ref), None)
        for ref, sha in remote_heads.items():
            repo.refs[Ref(ref)] = ObjectID(sha)
        return {
            ref[len(b"refs/heads/") :].decode(): sha.decode() for ref, sha in remote_heads.items()
        }

    def sync(self) -> dict[str, str]:
        """Fetches the remote into the cache and returns its branches (name -> commit sha)."""
        with self.locked() as repo:
            return self._fetch(repo)

    def prepare_branch(
        self,
        *,
        base_branch: str,
        branch: str,
        changeset: ChangeSet,
        author: str,
        message: str,
    ) -> str:
        """See `prepare_branch`."""
        check_pushable(branch, base_branch)
        if changeset.is_empty:
            raise GitError("The change set is empty: there is nothing to propose.")
        with self.locked() as repo:
            heads = self._fetch(repo)
            if base_branch not in heads:
                raise GitError(f"The repository has no branch {base_branch!r}.")
            base = heads[base_branch].encode()
            tree = _tree_with_changeset(repo, base, changeset)
            existing = heads.get(branch)
            if existing is not None:
                current = _commit_object(repo, existing.encode())
                if current.tree == tree and base in current.parents:
                    logger.info("Branch %s already holds this change set", branch)
                    return existing
            commit = _commit(repo, tree=tree, parent=base, author=author, message=message)
            self._push(repo, branch=branch, base_branch=base_branch, new=commit, old=existing)
            repo.refs[Ref(f"refs/heads/{branch}".encode())] = ObjectID(commit)
            return commit.decode()

    def _push(
        self, repo: Repo, *, branch: str, base_branch: str, new: bytes, old: str | None
    ) -> None:
        check_pushable(branch, base_branch)  # again, right where the ref is written
        ref = f"refs/heads/{branch}".encode()
        expected = old.encode() if old else None

        def update_refs(refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
            current = refs.get(ref)
            if current is not None and current != expected:
                # Someone else moved the branch since the fetch: let the caller retry.
                raise GitRemoteError(f"Branch {branch} moved during the push; retry.")
            # Only our ref: every other value is echoed back unchanged, so nothing else moves.
            return {**refs, ref: new}

        def pack_data(have: Any, want: Any, *, ofs_delta: bool = False, progress: Any = None):  # type: ignore[no-untyped-def]
            return repo.generate_pack_data(
                set(have), set(want), progress=progress, ofs_delta=ofs_delta
            )

        def push() -> Any:
            client, path = self._client()
            return client.send_pack(path.encode(), update_refs, generate_pack_data=pack_data)

        result = _remote_call(self.remote, "Pushing to", push)
        error = (result.ref_status or {}).get(ref)
        if error is not None:
            raise GitRemoteError(self.remote.scrub(f"The remote refused {branch}: {error}"))
        logger.info("Pushed %s to %s at %s", branch, self.remote.url, new.decode()[:12])


def prepare_branch(
    mirror: Mirror,
    *,
    base_branch: str,
    branch: str,
    changeset: ChangeSet,
    author: str,
    message: str,
) -> str:
    """Commits `changeset` on top of `base_branch` as `branch`, pushes it, returns the sha.

    The base tree is written to a temporary work tree and `apply_changeset` checks and
    applies the change set there (unsafe paths and stale bases fail before anything is
    written). The new tree is the base tree with exactly the change set's paths replaced,
    so untouched files keep their modes, symlinks and submodules byte for byte.

    Idempotent: when the remote branch already holds this tree on this base, its sha is
    returned and nothing is pushed; otherwise the branch (and only it) is force-updated.
    `author` is "Name <email>".
    """
    return mirror.prepare_branch(
        base_branch=base_branch, branch=branch, changeset=changeset, author=author, message=message
    )


# --- trees and commits ----------------------------------------------------------------------


def export_tree(repo: Repo, tree_id: bytes, root: Path, *, symlinks: bool = True) -> None:
    """Writes the tree's files under `root`, the one way a git tree becomes a folder here.

    Regular files keep git's executable bit (for the owner only); symlinks are written as
    symlinks, or skipped when `symlinks` is False (a preview reads files and must not follow a
    link out of the folder). Submodules, and paths that are absolute, climb with `..` or enter
    a `.git` folder, are skipped.
    """
    for entry in repo.object_store.iter_tree_contents(ObjectID(tree_id)):
        if entry.path is None or entry.sha is None or entry.mode is None:
            continue
        relative = PurePosixPath(entry.path.decode("utf-8", "surrogateescape"))
        if relative.is_absolute() or ".." in relative.parts or ".git" in relative.parts:
            continue
        is_link = stat.S_ISLNK(entry.mode)
        if not stat.S_ISREG(entry.mode) and not (is_link and symlinks):
            continue
        target = root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = repo[entry.sha].as_raw_string()
        if is_link:
            # Kept as a link so apply_changeset refuses to write through it.
            os.symlink(os.fsdecode(data), target)
        else:
            target.write_bytes(data)
            if entry.mode & 0o111:
                os.chmod(target, 0o700)  # executable for the owner only, as git keeps it


def _tree_with_changeset(repo: Repo, base: bytes, changeset: ChangeSet) -> bytes:
    base_commit = _commit_object(repo, base)
    base_tree = repo[base_commit.tree]
    if not isinstance(base_tree, Tree):
        raise GitError(f"{base.decode()} has no tree.")
    with tempfile.TemporaryDirectory(prefix="substrate-branch-") as folder:
        root = Path(folder)
        export_tree(repo, base_commit.tree, root)
        try:
            apply_changeset(root, changeset)
        except SubstrateError as exc:
            raise GitError(f"The change set does not apply to the base branch: {exc}") from exc
        changes: list[tuple[bytes, int | None, ObjectID | None]] = []
        for change in changeset.files:
            path = change.path.encode("utf-8")
            if change.action is FileAction.DELETE:
                changes.append((path, None, None))
                continue
            blob = Blob.from_string((root / change.path).read_bytes())
            repo.object_store.add_object(blob)
            mode = _REGULAR
            with contextlib.suppress(KeyError):
                old_mode, _ = base_tree.lookup_path(repo.object_store.__getitem__, path)
                mode = _EXECUTABLE if old_mode == _EXECUTABLE else _REGULAR
            changes.append((path, mode, blob.id))
    return commit_tree_changes(repo.object_store, base_commit.tree, changes)


def _commit_object(repo: Repo, sha: bytes) -> Commit:
    commit = repo[ObjectID(sha)]
    if not isinstance(commit, Commit):
        raise GitError(f"{sha.decode()} is not a commit.")
    return commit


def _commit(repo: Repo, *, tree: bytes, parent: bytes, author: str, message: str) -> bytes:
    if "<" not in author or not author.endswith(">") or "\n" in author:
        raise GitError(f"Author must look like 'Name <email>', not {author!r}.")
    commit = Commit()
    commit.tree = tree
    commit.parents = [ObjectID(parent)]
    commit.author = commit.committer = author.encode("utf-8")
    now = int(time.time())
    commit.author_time = commit.commit_time = now
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = b"UTF-8"
    commit.message = (message.rstrip("\n") + "\n").encode("utf-8")
    repo.object_store.add_object(commit)
    return commit.id
