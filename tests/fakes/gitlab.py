"""A local fake GitLab: real git smart-HTTP pushes and the merge-request REST API (v4).

The git side (and the merge logic from real git content) is `tests.fakes.gitserver`'s, shared
with the fake GitHub. Under `/api/v4/projects/{group%2Fname}` it answers the calls the portal
makes, as GitLab does: `GET` the project, `GET/POST .../merge_requests` (`state`,
`source_branch` filters; 409 for a second open merge request from the same source branch,
422 for a missing branch), `GET/PUT .../merge_requests/{iid}` (`state_event=close`), and
`POST .../statuses/{sha}` (stored in `statuses` under the key "context" for the status
`name`; 400 for a bad state, 404 for an unknown commit).
`PRIVATE-TOKEN` must be the token (401 otherwise); the project must be addressed by its
URL-encoded path (an unencoded slash is a 404, as on GitLab). `has_conflicts`,
`merge_status` and `detailed_merge_status` come from the git content.

Test controls: `merge`, `close`, `fail_next` (e.g. 429 with `Retry-After`), `commit_files`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from tests.fakes.gitserver import FakeGitServer, WSGIApp


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeMergeRequest:
    """One merge request as the fake stores it."""

    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    state: str = "opened"
    merge_commit_sha: str | None = None
    # The head it was merged with (GitLab's `sha` of a merged merge request stays that one).
    merged_head_sha: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    merged_at: str | None = None
    closed_at: str | None = None


class FakeGitLab(FakeGitServer):
    """The fake server; use as a context manager (or call `start` / `stop`)."""

    api_prefix = "/api/v4/"
    realm = "GitLab"
    project_id = 42

    def __init__(self, root: str | Path, **kwargs: Any) -> None:
        kwargs.setdefault("owner", "group")
        super().__init__(root, **kwargs)
        self.merge_requests: dict[int, FakeMergeRequest] = {}

    def __enter__(self) -> FakeGitLab:
        return self.start()  # type: ignore[no-any-return]

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v4"

    @property
    def project_path(self) -> str:
        return f"{self.owner}/{self.name}"

    # --- test controls -------------------------------------------------------------------

    def merge(self, iid: int, *, merged_by: str = "security-lead") -> str:
        """Merges an open merge request with a merge commit (a ValueError on conflict)."""
        with self._lock:
            mr = self.merge_requests[iid]
            if mr.state != "opened":
                raise ValueError(f"merge request !{iid} is {mr.state}")
            mr.merged_head_sha = self.branch_sha(mr.source_branch)
            sha = self.merge_branches(
                mr.source_branch,
                mr.target_branch,
                f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'",
                f"{merged_by} <{merged_by}@example.com>",
            )
            mr.state, mr.merge_commit_sha = "merged", sha
            mr.merged_at = mr.updated_at = _now()
            return sha

    def close(self, iid: int) -> None:
        """Closes a merge request without merging it."""
        with self._lock:
            mr = self.merge_requests[iid]
            mr.state, mr.closed_at, mr.updated_at = "closed", _now(), _now()

    # --- the API ---------------------------------------------------------------------------

    def _mr_json(self, mr: FakeMergeRequest) -> dict[str, Any]:
        open_ = mr.state == "opened"
        mergeable = open_ and self.mergeable(mr.source_branch, mr.target_branch)
        return {
            "id": 9000 + mr.iid,
            "iid": mr.iid,
            "project_id": self.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_at": mr.merged_at,
            "closed_at": mr.closed_at,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "source_project_id": self.project_id,
            "target_project_id": self.project_id,
            "author": {"id": 1, "username": "portal-bot", "name": "Portal bot"},
            "draft": False,
            "sha": mr.merged_head_sha or self.branch_sha(mr.source_branch),
            "merge_commit_sha": mr.merge_commit_sha,
            "has_conflicts": open_ and not mergeable,
            "merge_status": ("can_be_merged" if mergeable else "cannot_be_merged")
            if open_
            else "can_be_merged",
            "detailed_merge_status": ("mergeable" if mergeable else "conflict")
            if open_
            else "not_open",
            "web_url": f"{self.url}/{self.project_path}/-/merge_requests/{mr.iid}",
            "references": {"short": f"!{mr.iid}", "full": f"{self.project_path}!{mr.iid}"},
        }

    def api_app(self) -> WSGIApp:
        app = Flask(__name__)
        encoded = f"{self.owner}%2F{self.name}"
        prefix = f"/api/v4/projects/{self.owner}/{self.name}"  # PATH_INFO is decoded

        def answer(
            payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
        ) -> Response:
            response = Response(json.dumps(payload), status=status, content_type="application/json")
            response.headers.update(dict(headers or {}))
            return response

        @app.before_request
        def check() -> Response | None:
            if request.headers.get("PRIVATE-TOKEN") != self.token:
                return answer({"message": "401 Unauthorized"}, 401)
            failure = self.take_failure(request.method, request.path)
            if failure is not None:
                return answer({"message": failure.message}, failure.status, failure.headers)
            raw = str(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or "")
            if not raw.startswith(f"/api/v4/projects/{encoded}"):
                return answer({"message": "404 Project Not Found"}, 404)
            return None

        @app.get(prefix)
        def get_project() -> Response:
            return answer(
                {
                    "id": self.project_id,
                    "path_with_namespace": self.project_path,
                    "default_branch": self.default_branch,
                    "web_url": f"{self.url}/{self.project_path}",
                }
            )

        @app.get(prefix + "/merge_requests")
        def list_mrs() -> Response:
            state = request.args.get("state", "all")
            source = request.args.get("source_branch")
            with self._lock:
                found = [
                    self._mr_json(mr)
                    for mr in sorted(self.merge_requests.values(), key=lambda m: -m.iid)
                    if (state == "all" or mr.state == state)
                    and (source is None or mr.source_branch == source)
                ]
            return answer(found)

        @app.post(prefix + "/merge_requests")
        def create_mr() -> Response:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                data = request.form.to_dict()
            source = str(data.get("source_branch") or "")
            target = str(data.get("target_branch") or "")
            title = str(data.get("title") or "")
            if not source or not target or not title:
                return answer({"error": "source_branch, target_branch, title are missing"}, 400)
            with self._lock:
                if self.branch_sha(source) is None or self.branch_sha(target) is None:
                    return answer({"message": ["Source branch or target branch is invalid"]}, 422)
                for mr in self.merge_requests.values():
                    if mr.source_branch == source and mr.state == "opened":
                        return answer(
                            {
                                "message": [
                                    "Another open merge request already exists for this "
                                    f"source branch: !{mr.iid}"
                                ]
                            },
                            409,
                        )
                iid = len(self.merge_requests) + 1
                mr = FakeMergeRequest(
                    iid, title, str(data.get("description") or ""), source, target
                )
                self.merge_requests[iid] = mr
                return answer(self._mr_json(mr), 201)

        @app.get(prefix + "/merge_requests/<int:iid>")
        def get_mr(iid: int) -> Response:
            with self._lock:
                mr = self.merge_requests.get(iid)
                if mr is None:
                    return answer({"message": "404 Not found"}, 404)
                return answer(self._mr_json(mr))

        @app.post(prefix + "/statuses/<sha>")
        def create_status(sha: str) -> Response:
            data = request.get_json(silent=True)
            if not isinstance(data, dict):
                data = request.form.to_dict()
            state = data.get("state")
            if state not in ("pending", "running", "success", "failed", "canceled", "skipped"):
                return answer({"error": "state does not have a valid value"}, 400)
            if not self.has_commit(sha):
                return answer({"message": "404 References for commit Not Found"}, 404)
            with self._lock:
                number = sum(len(v) for v in self.statuses.values()) + 1
                status = {
                    "id": 5000 + number,
                    "sha": sha,
                    "ref": None,
                    "status": state,
                    "name": data.get("name") or "default",
                    "context": data.get("name") or "default",
                    "description": data.get("description"),
                    "target_url": data.get("target_url"),
                    "created_at": _now(),
                    "author": {"id": 1, "username": "portal-bot", "name": "Portal bot"},
                }
                self.statuses.setdefault(sha, []).append(status)
            return answer({k: v for k, v in status.items() if k != "context"}, 201)

        @app.put(prefix + "/merge_requests/<int:iid>")
        def update_mr(iid: int) -> Response:
            data = request.get_json(silent=True) or {}
            with self._lock:
                mr = self.merge_requests.get(iid)
                if mr is None:
                    return answer({"message": "404 Not found"}, 404)
                if data.get("state_event") == "close" and mr.state == "opened":
                    mr.state, mr.closed_at, mr.updated_at = "closed", _now(), _now()
                for key in ("title", "description"):
                    if isinstance(data.get(key), str):
                        setattr(mr, key, data[key])
                        mr.updated_at = _now()
                return answer(self._mr_json(mr))

        return app


def started(root: Path, **kwargs: Any) -> Iterator[FakeGitLab]:
    """A generator for pytest fixtures: `yield from started(tmp_path)`."""
    with FakeGitLab(root, **kwargs) as fake:
        yield fake
