"""A local fake GitHub: real git smart-HTTP pushes and the pull-request REST API.

ECOSYSTEM.md section 4: no real forge runs here, so this serves, on 127.0.0.1 and a free port,

* `/{owner}/{name}.git`: git smart-HTTP through `dulwich.web` over a bare repository, behind
  HTTP basic auth with the token as password (as GitHub takes it), so pushes are real;
* `/api/v3/...`: the REST endpoints the portal uses, answering like GitHub: `GET /repos/{o}/{r}`,
  `GET .../branches/{b}`, `POST/GET .../pulls` (`head`, `base`, `state` filters), and
  `GET .../pulls/{n}`, `POST .../statuses/{sha}` (stored in `statuses`; read one back with
  `commit_status`); 401 for a bad token, 404 for unknown things, 422 for a missing branch,
  no commits between the branches, a duplicate open pull request, an unknown commit, or a
  status with a bad state or a description over 140 characters.

Test-only controls are plain methods: `merge`, `close`, `fail_next` (inject 5xx, rate limits),
`hold_next` (answer a request only when the test says so: a client killed while it waits),
`commit_files`. With `webhook_url` and `webhook_secret`, `merge` and `close` deliver a signed
`pull_request` "closed" event there, as a GitHub repository webhook does. The git side, the
holds and the merge logic are `tests.fakes.gitserver`'s, shared with the fake GitLab;
`mergeable` / `mergeable_state` are computed from the real git content.
Response bodies come from the templates in `github_examples/`, written for this fake with the
fields PyGithub reads (not copied from GitHub's examples).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

from flask import Flask, Response, request

from tests.fakes.gitserver import FakeGitServer, WSGIApp

EXAMPLES = Path(__file__).with_name("github_examples")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


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


class FakeGitHub(FakeGitServer):
    """The fake server; use as a context manager (or call `start` / `stop`)."""

    api_prefix = "/api/"
    realm = "GitHub"

    def __init__(
        self,
        root: str | Path,
        *,
        webhook_url: str = "",
        webhook_secret: str = "",
        app_id: str = "",
        app_public_key: str = "",
        installation_id: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, **kwargs)
        self.pulls: dict[int, FakePull] = {}
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret
        self.deliveries: list[tuple[str, int]] = []  # (delivery id, HTTP status) per webhook
        # A GitHub App: a JWT signed with its private key (RS256, `iss` = app id) buys an
        # installation token, which is this fake's token.
        self.app_id, self.app_public_key, self.installation_id = (
            app_id,
            app_public_key,
            installation_id,
        )
        self.installation_tokens_issued = 0

    def __enter__(self) -> FakeGitHub:
        return self.start()  # type: ignore[no-any-return]

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    # --- test controls -------------------------------------------------------------------

    def merge(self, number: int, *, merged_by: str = "security-lead") -> str:
        """Merges an open pull request with a merge commit, as GitHub's merge button does;
        `MergeConflictError` (a ValueError) when the base changed the same files."""
        with self._lock:
            pull = self.pulls[number]
            if pull.state != "open":
                raise ValueError(f"pull request #{number} is {pull.state}")
            # GitHub keeps the head a pull request was merged with (`head.sha`), whatever is
            # pushed to its branch afterwards.
            pull.head_sha = self.branch_sha(pull.head) or pull.head_sha
            sha = self.merge_branches(
                pull.head,
                pull.base,
                f"Merge pull request #{number} from {self.owner}/{pull.head}",
                f"{merged_by} <{merged_by}@users.noreply.github.com>",
            )
            pull.state, pull.merged, pull.merge_sha = "closed", True, sha
            pull.closed_at = pull.updated_at = _now()
        self._deliver_closed(pull)
        return sha

    def close(self, number: int) -> None:
        """Closes a pull request without merging it."""
        with self._lock:
            pull = self.pulls[number]
            pull.head_sha = self.branch_sha(pull.head) or pull.head_sha
            pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()
        self._deliver_closed(pull)

    def deliver_webhook(self, event: str, payload: Mapping[str, Any]) -> int:
        """POSTs a signed delivery to `webhook_url`, as GitHub does; returns the HTTP status."""
        body = json.dumps(payload).encode()
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        delivery = str(uuid.uuid4())
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/fake",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": f"sha256={signature}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = int(response.status)
        except HTTPError as error:
            status = error.code
        self.deliveries.append((delivery, status))
        return status

    def _deliver_closed(self, pull: FakePull) -> None:
        if not self.webhook_url:
            return
        payload = {
            "action": "closed",
            "number": pull.number,
            "pull_request": self._pull_json(pull),
            "repository": self._repo_json(),
            "sender": self._user("security-lead"),
        }
        self.deliver_webhook("pull_request", payload)

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

    def api_app(self) -> WSGIApp:
        return self._flask_app()

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
        mergeable = pull.state == "open" and self.mergeable(pull.head, pull.base)
        state = "clean" if mergeable else "dirty"
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
            head_sha=(self.branch_sha(pull.head) if pull.state == "open" else None)
            or pull.head_sha,
            base_ref=pull.base,
            base_sha=pull.base_sha,
            draft=pull.draft,
            merged=pull.merged,
            mergeable=None if pull.state == "closed" else mergeable,
            mergeable_state="unknown" if pull.state == "closed" else state,
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
            if request.path.startswith("/api/v3/app/"):
                return None  # the app's own routes check its JWT
            if scheme.lower() not in ("token", "bearer") or value != self.token:
                return error(401, "Bad credentials")
            failure = self.take_failure(request.method, request.path)
            if failure is not None:
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

        @app.post("/api/v3/app/installations/<int:installation>/access_tokens")
        def installation_token(installation: int) -> Response:
            import jwt  # PyJWT, a PyGithub dependency

            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if not self.app_id or scheme.lower() != "bearer":
                return error(401, "A JSON web token could not be decoded")
            try:
                claims = jwt.decode(value, self.app_public_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                return error(401, "A JSON web token could not be decoded")
            if str(claims.get("iss")) != str(self.app_id) or installation != self.installation_id:
                return error(404, "Not Found")
            self.installation_tokens_issued += 1
            expires = datetime.fromtimestamp(time.time() + 3600, UTC)
            return answer(
                {
                    "token": self.token,
                    "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "permissions": {"contents": "write", "pull_requests": "write"},
                    "repository_selection": "selected",
                },
                201,
            )

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

        @app.post(prefix + "/statuses/<sha>")
        def create_status(sha: str) -> Response:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                return error(400, "Problems parsing JSON")
            state = data.get("state")
            if state not in ("error", "failure", "pending", "success"):
                return error(
                    422,
                    "Validation Failed",
                    [{"resource": "Status", "field": "state", "code": "invalid"}],
                )
            description = data.get("description")
            if isinstance(description, str) and len(description) > 140:
                return error(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "Status",
                            "code": "custom",
                            "field": "description",
                            "message": "description is too long (maximum is 140 characters)",
                        }
                    ],
                )
            if not self.has_commit(sha):
                return error(422, f"No commit found for SHA: {sha}")
            with self._lock:
                number = sum(len(v) for v in self.statuses.values()) + 1
                status = {
                    "url": f"{self.api_url}{prefix[7:]}/statuses/{sha}",
                    "id": 7000 + number,
                    "node_id": f"SC_fake{number}",
                    "state": state,
                    "description": description,
                    "target_url": data.get("target_url"),
                    "context": data.get("context") or "default",
                    "created_at": _now(),
                    "updated_at": _now(),
                    "creator": self._user("portal-bot", "Bot"),
                }
                self.statuses.setdefault(sha, []).append(status)
            return answer(status, 201)

        return app


def started(root: Path, **kwargs: Any) -> Iterator[FakeGitHub]:
    """A generator for pytest fixtures: `yield from started(tmp_path)`."""
    with FakeGitHub(root, **kwargs) as fake:
        yield fake
