"""A local fake GitHub: real git smart-HTTP pushes and the pull-request REST API.

ECOSYSTEM.md section 4: no real forge runs here, so this serves, on 127.0.0.1 and a free port,

* `/{owner}/{name}.git`: git smart-HTTP through `dulwich.web` over a bare repository, behind
  HTTP basic auth with the token as password (as GitHub takes it), so pushes are real;
* `/api/v3/...`: the REST endpoints the portal uses, answering like GitHub: `GET /repos/{o}/{r}`,
  `GET .../branches/{b}`, `POST/GET .../pulls` (`head`, `base`, `state` filters), and
  `GET .../pulls/{n}`; 401 for a bad token, 404 for unknown things, 422 for a missing branch,
  no commits between the branches, or a duplicate open pull request.

Test-only controls are plain methods: `merge`, `close`, `fail_next` (inject 5xx, rate limits),
`commit_files`. Response bodies come from the templates in `github_examples/`, written for
this fake with the fields PyGithub reads (not copied from GitHub's examples).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dulwich.index import commit_tree
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo
from dulwich.server import BackendRepo, DictBackend
from dulwich.web import make_wsgi_chain
from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

EXAMPLES = Path(__file__).with_name("github_examples")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(template: str, values: Mapping[str, Any]) -> Any:
    """Loads `github_examples/<template>.json`, filling `{key}` in strings and `"@key"` values."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            if node.startswith("@") and node[1:] in values:
                return values[node[1:]]
            return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), node)
        return node

    return fill(json.loads((EXAMPLES / f"{template}.json").read_text()))


@dataclass
class FakePull:
    """One pull request as the fake stores it."""

    number: int
    title: str
    body: str | None
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merge_sha: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    message: str
    method: str | None
    path_contains: str | None


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr; `FakeGitHub.requests` records what was asked."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeGitHub:
    """The fake server; use as a context manager (or call `start` / `stop`)."""

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
        self.pulls: dict[int, FakePull] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request served
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeGitHub:
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

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def git_url(self) -> str:
        return f"{self.url}/{self.owner}/{self.name}.git"

    # --- test controls -------------------------------------------------------------------

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
            entries: dict[bytes, tuple[ObjectID, int]] = {}
            if parent is not None:
                parent_commit = repo[parent]
                assert isinstance(parent_commit, Commit)
                for e in repo.object_store.iter_tree_contents(parent_commit.tree):
                    assert e.path is not None
                    assert e.sha is not None
                    assert e.mode is not None
                    entries[e.path] = (e.sha, e.mode)
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
                commit = repo[current.encode()]
                assert isinstance(commit, Commit)
                for e in repo.object_store.iter_tree_contents(commit.tree):
                    assert e.path is not None
                    files.setdefault(e.path.decode(), None)
        return self.commit_files(files, message=message)

    def merge(self, number: int, *, merged_by: str = "security-lead") -> str:
        """Merges an open pull request with a merge commit, as GitHub's merge button does.

        The fake only merges when the base branch has not moved since the head was cut
        (the head's tree is the result); anything else is the portal's conflict path.
        """
        with self._lock, Repo(str(self.repo_path)) as repo:
            pull = self.pulls[number]
            if pull.state != "open":
                raise ValueError(f"pull request #{number} is {pull.state}")
            head = repo.refs[f"refs/heads/{pull.head}".encode()]  # type: ignore[index]
            base_ref = Ref(f"refs/heads/{pull.base}".encode())
            base = repo.refs[base_ref]  # type: ignore[index]
            head_commit = repo[head]
            assert isinstance(head_commit, Commit)
            if base not in head_commit.parents and base != head:
                raise ValueError("the fake merges only heads cut from the current base")
            sha = self._write_commit(
                repo,
                head_commit.tree,
                [base, head],
                f"Merge pull request #{number} from {self.owner}/{pull.head}",
                author=f"{merged_by} <{merged_by}@users.noreply.github.com>",
            )
            repo.refs[base_ref] = sha
            pull.state, pull.merged, pull.merge_sha = "closed", True, sha.decode()
            pull.closed_at = pull.updated_at = _now()
            return sha.decode()

    def close(self, number: int) -> None:
        """Closes a pull request without merging it."""
        with self._lock:
            pull = self.pulls[number]
            pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()

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
                    _Failure(status, dict(headers or {}), text, method, path_contains)
                )

    def rate_limit_next(self, *, secondary: bool = False, retry_after: int = 60) -> None:
        """The next API request hits a primary (403, remaining 0) or secondary rate limit."""
        if secondary:
            self.fail_next(
                403,
                headers={"retry-after": str(retry_after)},
                message="You have exceeded a secondary rate limit. "
                "Please wait a few minutes before you try again.",
            )
        else:
            self.fail_next(
                403,
                headers={
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": str(int(time.time()) + retry_after),
                },
                message="API rate limit exceeded for installation ID 1.",
            )

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

    @property
    def wsgi_app(self) -> WSGIApp:
        repos: dict[str, BackendRepo] = {f"/{self.owner}/{self.name}.git": self.repo}
        git = make_wsgi_chain(DictBackend(repos))
        api = self._flask_app()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            self.requests.append((environ.get("REQUEST_METHOD", ""), path))
            if path.startswith("/api/"):
                return api(environ, start_response)
            if not self._git_authorized(environ.get("HTTP_AUTHORIZATION", "")):
                start_response(
                    "401 Unauthorized",
                    [("WWW-Authenticate", 'Basic realm="GitHub"'), ("Content-Type", "text/plain")],
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

    def _values(self) -> dict[str, Any]:
        web = self.url
        return {
            "api": self.api_url,
            "web": web,
            "owner": self.owner,
            "name": self.name,
            "default_branch": self.default_branch,
        }

    def _user(self, login: str, kind: str = "User") -> Any:
        return render("user", {**self._values(), "login": login, "type": kind})

    def _repo_json(self) -> Any:
        values = self._values()
        values["user"] = self._user(self.owner, "Organization")
        return render("repository", values)

    def _pull_json(self, pull: FakePull) -> Any:
        values = self._values()
        values.update(
            id=4000 + pull.number,
            node_id=f"PR_fake{pull.number}",
            number=pull.number,
            state=pull.state,
            title=pull.title,
            body=pull.body,
            user=self._user("portal-bot", "Bot"),
            repo=self._repo_json(),
            created_at=pull.created_at,
            updated_at=pull.updated_at,
            closed_at=pull.closed_at,
            merged_at=pull.closed_at if pull.merged else None,
            merge_commit_sha=pull.merge_sha,
            head_ref=pull.head,
            head_sha=self.branch_sha(pull.head) or pull.head_sha,
            base_ref=pull.base,
            base_sha=pull.base_sha,
            draft=pull.draft,
            merged=pull.merged,
            mergeable=None if pull.state == "closed" else True,
            mergeable_state="unknown" if pull.state == "closed" else "clean",
            merged_by=self._user("security-lead") if pull.merged else None,
        )
        return render("pull-request", values)

    def _flask_app(self) -> Flask:
        app = Flask(__name__)
        prefix = f"/api/v3/repos/{self.owner}/{self.name}"

        def answer(
            payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
        ) -> Response:
            response = Response(
                json.dumps(payload), status=status, content_type="application/json; charset=utf-8"
            )
            response.headers.update(
                {
                    "x-github-request-id": f"FAKE:{len(self.requests)}",
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "4999",
                    "x-ratelimit-reset": str(int(time.time()) + 3600),
                    "x-ratelimit-resource": "core",
                }
            )
            response.headers.update(dict(headers or {}))
            return response

        def error(
            status: int, message: str, errors: list[dict[str, str]] | None = None
        ) -> Response:
            payload: dict[str, Any] = {
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": str(status),
            }
            if errors is not None:
                payload["errors"] = errors
            return answer(payload, status)

        @app.before_request
        def check() -> Response | None:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or value != self.token:
                return error(401, "Bad credentials")
            with self._lock:
                for failure in self._failures:
                    if (failure.method in (None, request.method)) and (
                        failure.path_contains is None or failure.path_contains in request.path
                    ):
                        self._failures.remove(failure)
                        return answer(
                            {
                                "message": failure.message,
                                "documentation_url": "https://docs.github.com/rest",
                            },
                            failure.status,
                            failure.headers,
                        )
            if not request.path.startswith(prefix + "/") and request.path != prefix:
                return error(404, "Not Found")
            return None

        @app.get(prefix)
        def get_repo() -> Response:
            return answer(self._repo_json())

        @app.get(prefix + "/branches/<path:branch>")
        def get_branch(branch: str) -> Response:
            sha = self.branch_sha(branch)
            if sha is None:
                return error(404, "Branch not found")
            return answer(render("branch", {**self._values(), "branch": branch, "sha": sha}))

        @app.post(prefix + "/pulls")
        def create_pull() -> Response:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                return error(400, "Problems parsing JSON")
            head = str(data.get("head") or "")
            if ":" in head:
                owner, _, head = head.partition(":")
                if owner != self.owner:
                    head = ""  # forks are not modelled
            base = str(data.get("base") or "")
            title = data.get("title")
            if not isinstance(title, str) or not title.strip():
                return error(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
                )
            head_sha, base_sha = self.branch_sha(head) if head else None, self.branch_sha(base)
            invalid = [f for f, sha in (("head", head_sha), ("base", base_sha)) if sha is None]
            if invalid:
                return error(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": f, "code": "invalid"} for f in invalid],
                )
            with self._lock:
                if head_sha == base_sha:
                    return error(
                        422,
                        "Validation Failed",
                        [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"No commits between {base} and {head}",
                            }
                        ],
                    )
                if any(p.head == head and p.state == "open" for p in self.pulls.values()):
                    return error(
                        422,
                        "Validation Failed",
                        [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": "A pull request already exists for "
                                f"{self.owner}:{head}.",
                            }
                        ],
                    )
                assert head_sha is not None
                assert base_sha is not None
                number = len(self.pulls) + 1
                pull = FakePull(
                    number,
                    title,
                    data.get("body"),
                    head,
                    base,
                    head_sha,
                    base_sha,
                    bool(data.get("draft")),
                )
                self.pulls[number] = pull
                return answer(
                    self._pull_json(pull),
                    201,
                    {"Location": f"{self.api_url}{prefix[7:]}/pulls/{number}"},
                )

        @app.get(prefix + "/pulls")
        def list_pulls() -> Response:
            state = request.args.get("state", "open")
            head = request.args.get("head")
            base = request.args.get("base")
            with self._lock:
                found = [
                    p
                    for p in sorted(self.pulls.values(), key=lambda p: -p.number)
                    if (state == "all" or p.state == state)
                    and (head is None or head == f"{self.owner}:{p.head}")
                    and (base is None or base == p.base)
                ]
                return answer([self._pull_json(p) for p in found])

        @app.patch(prefix + "/pulls/<int:number>")
        def update_pull(number: int) -> Response:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                return error(400, "Problems parsing JSON")
            with self._lock:
                pull = self.pulls.get(number)
                if pull is None:
                    return error(404, "Not Found")
                if data.get("state") == "closed" and pull.state == "open":
                    pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()
                for key in ("title", "body"):
                    if isinstance(data.get(key), str):
                        setattr(pull, key, data[key])
                return answer(self._pull_json(pull))

        @app.get(prefix + "/pulls/<int:number>")
        def get_pull(number: int) -> Response:
            with self._lock:
                pull = self.pulls.get(number)
                return error(404, "Not Found") if pull is None else answer(self._pull_json(pull))

        return app


def started(root: Path, **kwargs: Any) -> Iterator[FakeGitHub]:
    """A generator for pytest fixtures: `yield from started(tmp_path)`."""
    with FakeGitHub(root, **kwargs) as fake:
        yield fake
