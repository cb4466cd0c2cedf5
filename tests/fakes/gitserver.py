"""What every fake forge shares: a bare repository served over real git smart-HTTP.

`FakeGitServer` runs on 127.0.0.1 and a free port: `/{owner}/{name}.git` is `dulwich.web`
over a bare repository behind HTTP basic auth with the token as password (GitHub and GitLab
both take a token that way), and every path under `api_prefix` goes to the subclass's REST
application. It also holds the test controls both fakes need (commit as someone else,
inject failures) and merges the way a forge does: path by path from real git content, so a
pull request whose base moved on and changed the same files is reported as conflicting.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dulwich.graph import find_merge_base
from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo
from dulwich.server import BackendRepo, DictBackend
from dulwich.web import make_wsgi_chain
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Failure:
    """An injected API failure, consumed by the first matching request."""

    status: int
    headers: dict[str, str]
    message: str
    method: str | None
    path_contains: str | None


@dataclass
class Hold:
    """A request the fake holds: `arrived` is set once the request has been handled and its
    answer is ready (a pull request is created by then), and the answer leaves only after
    `release()`."""

    method: str | None
    path_contains: str | None
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class MergeConflictError(ValueError):
    """The base branch changed the same files as the head since they diverged."""


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr; `requests` records what was asked."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _flat_tree(repo: Repo, sha: ObjectID | None) -> dict[bytes, tuple[ObjectID, int]]:
    if sha is None:
        return {}
    commit = repo[sha]
    assert isinstance(commit, Commit)
    entries = {}
    for e in repo.object_store.iter_tree_contents(commit.tree):
        assert e.path is not None
        assert e.sha is not None
        assert e.mode is not None
        entries[e.path] = (e.sha, e.mode)
    return entries


class FakeGitServer:
    """A bare repository served over git smart-HTTP, plus a REST app from the subclass."""

    api_prefix = "/api/"
    realm = "fake forge"

    def __init__(
        self,
        root: str | Path,
        *,
        owner: str = "org",
        name: str = "repo",
        token: str = "fake-token",  # noqa: S107  a test value, not a secret
        default_branch: str = "main",
    ) -> None:
        self.owner, self.name, self.token, self.default_branch = owner, name, token, default_branch
        self.repo_path = Path(root) / owner / f"{name}.git"
        self.repo_path.mkdir(parents=True, exist_ok=True)
        self.repo = Repo.init_bare(str(self.repo_path))
        self.repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(f"refs/heads/{default_branch}".encode()))
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request served
        # Commit statuses as posted, oldest first, per commit sha (each fake's own fields).
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self._failures: list[Failure] = []
        self._holds: list[Hold] = []
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Any:
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.repo.close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def git_url(self) -> str:
        return f"{self.url}/{self.owner}/{self.name}.git"

    # --- test controls -------------------------------------------------------------------

    def has_commit(self, sha: str) -> bool:
        """Whether `sha` (40 hex digits) names a commit in the bare repository."""
        if len(sha) != 40:
            return False
        with Repo(str(self.repo_path)) as repo:
            try:
                return isinstance(repo[ObjectID(sha.encode())], Commit)
            except (KeyError, ValueError):
                return False

    def commit_status(self, sha: str, context: str) -> dict[str, Any] | None:
        """The latest status named `context` on commit `sha`, as the fake stored it."""
        with self._lock:
            found = [s for s in self.statuses.get(sha, []) if s.get("context") == context]
        return found[-1] if found else None

    def branch_sha(self, branch: str) -> str | None:
        """The commit `branch` points to in the bare repository, or None."""
        with Repo(str(self.repo_path)) as repo:
            try:
                return repo.refs[f"refs/heads/{branch}".encode()].decode()  # type: ignore[index]
            except KeyError:
                return None

    def commit_files(
        self,
        files: Mapping[str, bytes | None],
        *,
        branch: str | None = None,
        message: str = "Update",
    ) -> str:
        """Commits `files` (path -> content, None deletes) on `branch` as someone else would.

        Returns the new commit sha."""
        branch = branch or self.default_branch
        ref = Ref(f"refs/heads/{branch}".encode())
        with self._lock, Repo(str(self.repo_path)) as repo:
            # A new branch starts from the default branch, as `git switch -c` would.
            default = Ref(f"refs/heads/{self.default_branch}".encode())
            start = ref if ref in repo.refs else default
            # RefsContainer is a mapping without .get()
            parent = repo.refs[start] if start in repo.refs else None  # noqa: SIM401
            entries = _flat_tree(repo, parent)
            for path, content in files.items():
                if content is None:
                    entries.pop(path.encode(), None)
                else:
                    blob = Blob.from_string(content)
                    repo.object_store.add_object(blob)
                    entries[path.encode()] = (blob.id, 0o100644)
            tree = commit_tree(repo.object_store, [(p, s, m) for p, (s, m) in entries.items()])
            sha = self._write_commit(repo, tree, [parent] if parent else [], message)
            repo.refs[ref] = sha
            return sha.decode()

    def commit_directory(self, folder: Path, *, message: str = "Initial Substrate layout") -> str:
        """Commits every file under `folder` as the whole default branch (replacing it)."""
        files: dict[str, bytes | None] = {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }
        current = self.branch_sha(self.default_branch)
        if current is not None:
            with Repo(str(self.repo_path)) as repo:
                for path in _flat_tree(repo, ObjectID(current.encode())):
                    files.setdefault(path.decode(), None)
        return self.commit_files(files, message=message)

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        method: str | None = None,
        path_contains: str | None = None,
        headers: Mapping[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """The next `count` matching API requests answer `status` (after the token check)."""
        text = message or {
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
        }.get(status, "Error")
        with self._lock:
            for _ in range(count):
                self._failures.append(
                    Failure(status, dict(headers or {}), text, method, path_contains)
                )

    def hold_next(self, *, method: str | None = None, path_contains: str | None = None) -> Hold:
        """The next matching API request is handled, then its answer waits for `release()`."""
        hold = Hold(method, path_contains)
        with self._lock:
            self._holds.append(hold)
        return hold

    def _take_hold(self, method: str, path: str) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if hold.method in (None, method) and (
                    hold.path_contains is None or hold.path_contains in path
                ):
                    self._holds.remove(hold)
                    return hold
        return None

    def take_failure(self, method: str, path: str) -> Failure | None:
        """The first injected failure matching this request, removed from the queue."""
        with self._lock:
            for failure in self._failures:
                if failure.method in (None, method) and (
                    failure.path_contains is None or failure.path_contains in path
                ):
                    self._failures.remove(failure)
                    return failure
        return None

    # --- merging from real git content --------------------------------------------------------

    def merged_tree(self, head_branch: str, base_branch: str) -> ObjectID:
        """The tree merging `head_branch` into `base_branch`, path by path from their merge
        base; `MergeConflictError` when a path changed differently on both sides."""
        with self._lock, Repo(str(self.repo_path)) as repo:
            head = repo.refs[Ref(f"refs/heads/{head_branch}".encode())]
            base = repo.refs[Ref(f"refs/heads/{base_branch}".encode())]
            bases = find_merge_base(repo, [base, head])
            old = _flat_tree(repo, bases[0] if bases else None)
            ours, theirs = _flat_tree(repo, base), _flat_tree(repo, head)
            merged: dict[bytes, tuple[ObjectID, int]] = {}
            conflicts = []
            for path in sorted(old.keys() | ours.keys() | theirs.keys()):
                o, a, b = old.get(path), ours.get(path), theirs.get(path)
                if a == b or b == o:
                    pick = a
                elif a == o:
                    pick = b
                else:
                    conflicts.append(path.decode())
                    continue
                if pick is not None:
                    merged[path] = pick
            if conflicts:
                raise MergeConflictError("conflicting paths: " + ", ".join(conflicts))
            return commit_tree(repo.object_store, [(p, s, m) for p, (s, m) in merged.items()])

    def mergeable(self, head_branch: str, base_branch: str) -> bool:
        """Whether `head_branch` merges cleanly into `base_branch` right now."""
        try:
            self.merged_tree(head_branch, base_branch)
        except (MergeConflictError, KeyError):
            return False
        return True

    def merge_branches(self, head_branch: str, base_branch: str, message: str, author: str) -> str:
        """Writes the merge commit of `head_branch` into `base_branch`; returns its sha."""
        with self._lock, Repo(str(self.repo_path)) as repo:
            tree = self.merged_tree(head_branch, base_branch)
            head = repo.refs[Ref(f"refs/heads/{head_branch}".encode())]
            base_ref = Ref(f"refs/heads/{base_branch}".encode())
            parents = [repo.refs[base_ref], head]
            sha = self._write_commit(repo, tree, parents, message, author=author)
            repo.refs[base_ref] = sha
            return sha.decode()

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _write_commit(
        repo: Repo, tree: ObjectID, parents: list[ObjectID], message: str, *, author: str = ""
    ) -> ObjectID:
        commit = Commit()
        commit.tree = tree
        commit.parents = parents
        commit.author = commit.committer = (author or "Someone <someone@example.com>").encode()
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = message.encode() + b"\n"
        repo.object_store.add_object(commit)
        return commit.id

    def api_app(self) -> WSGIApp:
        """The forge's REST application (the subclass's)."""
        raise NotImplementedError

    @property
    def wsgi_app(self) -> WSGIApp:
        repos: dict[str, BackendRepo] = {f"/{self.owner}/{self.name}.git": self.repo}
        git = make_wsgi_chain(DictBackend(repos))
        api = self.api_app()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            self.requests.append((environ.get("REQUEST_METHOD", ""), path))
            if path.startswith(self.api_prefix):
                hold = self._take_hold(environ.get("REQUEST_METHOD", ""), path)
                if hold is None:
                    return api(environ, start_response)
                answer = list(api(environ, start_response))
                hold.arrived.set()
                hold.released.wait(timeout=120)
                return answer
            if not self._git_authorized(environ.get("HTTP_AUTHORIZATION", "")):
                start_response(
                    "401 Unauthorized",
                    [
                        ("WWW-Authenticate", f'Basic realm="{self.realm}"'),
                        ("Content-Type", "text/plain"),
                    ],
                )
                return [b"Invalid username or token.\n"]
            with self._lock:  # one git operation at a time on the shared Repo object
                return list(git(environ, start_response))

        return app

    def _git_authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return password == self.token
