"""GitLab (gitlab.com or self-managed) merge requests through the REST API v4, with a token.

The project is addressed by its URL-encoded path (`group%2Fsubgroup%2Fproject`), the token
goes in the `PRIVATE-TOKEN` header (a personal, group or project access token with the `api`
scope). Merge requests are the portal's pull requests: the number is the MR's `iid`.

Like the GitHub forge: nothing sleeps here. 429 (with GitLab's `Retry-After`), 5xx,
timeouts and connection errors raise `ForgeTemporaryError` for the task to retry with
backoff; any other 4xx raises `ForgePermanentError`. Error messages never hold the token
and carry no exception chain (the original holds the request and its headers).
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

import requests

from .base import (
    CommitState,
    ForgeError,
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestInfo,
    PullRequestState,
    status_description,
)

DEFAULT_API_URL = "https://gitlab.com/api/v4"
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_STATES = {
    "opened": PullRequestState.OPEN,
    # "locked" is the short-lived state while GitLab performs a merge: still open to us.
    "locked": PullRequestState.OPEN,
    "merged": PullRequestState.MERGED,
    "closed": PullRequestState.CLOSED,
}

# GitLab's commit-status words: it has no "error", and "failed" is its "failure".
_COMMIT_STATES = {
    CommitState.PENDING: "pending",
    CommitState.SUCCESS: "success",
    CommitState.FAILURE: "failed",
    CommitState.ERROR: "failed",
}


def _message(response: requests.Response) -> str:
    """GitLab's error text: `message` (a string, list or field map) or `error`."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    value = data.get("message", data.get("error", ""))
    if isinstance(value, dict):
        return "; ".join(
            f"{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items()
        )
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return str(value)


def _retry_after(response: requests.Response) -> float | None:
    with contextlib.suppress(KeyError, ValueError):
        return max(0.0, float(response.headers["Retry-After"]))
    return None


def _mergeable(data: dict[str, Any]) -> bool | None:
    """False when GitLab says the merge request conflicts with its target branch."""
    if data.get("state") != "opened":
        return None
    if (
        data.get("has_conflicts") is True
        or data.get("merge_status") == "cannot_be_merged"
        or data.get("detailed_merge_status") == "conflict"
    ):
        return False
    if data.get("merge_status") == "can_be_merged":
        return True
    return None  # "checking" / "unchecked": GitLab computes it lazily


def _info(data: dict[str, Any]) -> PullRequestInfo:
    try:
        return PullRequestInfo(
            number=int(data["iid"]),
            url=str(data.get("web_url") or ""),
            branch=str(data.get("source_branch") or ""),
            base=str(data.get("target_branch") or ""),
            state=_STATES.get(str(data.get("state")), PullRequestState.CLOSED),
            head_sha=str(data.get("sha") or ""),
            title=str(data.get("title") or ""),
            mergeable=_mergeable(data),
        )
    except (KeyError, TypeError, ValueError):
        raise ForgePermanentError("GitLab answered with an unexpected merge request.") from None


class GitLabForge:
    """Merge requests on `project` ("group/name", subgroups allowed) through GitLab's API."""

    def __init__(self, *, api_url: str, project: str, token: str, timeout: int = 15) -> None:
        parts = project.strip("/").split("/")
        if len(parts) < 2 or not all(parts):
            raise ForgePermanentError(
                f"FORGE_REPOSITORY must be the project path 'group/name', not {project!r}."
            )
        self.project = "/".join(parts)
        self._base = (
            f"{(api_url or DEFAULT_API_URL).rstrip('/')}/projects/{quote(self.project, safe='')}"
        )
        self._token = token
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({"PRIVATE-TOKEN": token, "Accept": "application/json"})

    def __repr__(self) -> str:
        return f"GitLabForge({self.project!r})"

    def _request(
        self, method: str, path: str, action: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> tuple[int, Any]:
        """(status, JSON) of one API call; raises scrubbed forge errors for the rest.

        Statuses in `ok` are returned, so a caller may treat one (409) as an answer.
        """
        error: ForgeError
        try:
            response = self._session.request(method, self._base + path, timeout=self._timeout, **kw)
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = ForgeTemporaryError(f"GitLab {action} failed: {type(exc).__name__}")
        else:
            if response.status_code in ok:
                try:
                    return response.status_code, response.json()
                except ValueError:
                    return response.status_code, None
            text = f"GitLab {action} failed with {response.status_code}: {_message(response)}"
            if response.status_code in _TRANSIENT_STATUSES:
                error = ForgeTemporaryError(text, retry_after=_retry_after(response))
            else:
                error = ForgePermanentError(text)
        if self._token:
            error.args = tuple(str(a).replace(self._token, "***") for a in error.args)
        raise error

    def find_open_pull_request(self, branch: str) -> PullRequestInfo | None:
        """The open merge request whose source branch is `branch`, if any."""
        _, found = self._request(
            "GET",
            "/merge_requests",
            "listing merge requests",
            params={"state": "opened", "source_branch": branch},
        )
        for data in found if isinstance(found, list) else []:
            if isinstance(data, dict) and data.get("source_branch") == branch:
                return _info(data)
        return None

    def open_pull_request(self, branch: str, base: str, title: str, body: str) -> PullRequestInfo:
        """Opens the merge request, or returns the one already open for `branch`.

        GitLab answers 409 when another open merge request has the same source branch (a
        concurrent worker won): the existing one is looked up again.
        """
        existing = self.find_open_pull_request(branch)
        if existing is not None:
            return existing
        status, data = self._request(
            "POST",
            "/merge_requests",
            "opening a merge request",
            ok=(200, 201, 409),
            json={
                "source_branch": branch,
                "target_branch": base,
                "title": title,
                "description": body,
                "remove_source_branch": False,
            },
        )
        if status != 409 and isinstance(data, dict):
            return _info(data)
        existing = self.find_open_pull_request(branch)
        if existing is None:
            raise ForgePermanentError(
                f"GitLab reports an open merge request for {branch}; none found."
            )
        return existing

    def pull_request(self, number: int) -> PullRequestInfo:
        """GET /projects/:id/merge_requests/:iid, with its conflict status."""
        _, data = self._request("GET", f"/merge_requests/{int(number)}", "reading a merge request")
        if not isinstance(data, dict):
            raise ForgePermanentError("GitLab answered with an unexpected merge request.")
        return _info(data)

    def pull_request_state(self, number: int) -> PullRequestState:
        """Open, merged or closed without merging."""
        return self.pull_request(number).state

    def update_pull_request_body(self, number: int, body: str) -> None:
        """PUT the new description on merge request `number`."""
        self._request(
            "PUT",
            f"/merge_requests/{int(number)}",
            "updating a merge request",
            json={"description": body},
        )

    def close_pull_request(self, number: int) -> None:
        """PUT state_event=close on merge request `number` (if still open)."""
        if self.pull_request(number).state is PullRequestState.OPEN:
            self._request(
                "PUT",
                f"/merge_requests/{int(number)}",
                "closing a merge request",
                json={"state_event": "close"},
            )

    def set_commit_status(
        self, sha: str, *, state: CommitState, context: str, description: str, target_url: str
    ) -> None:
        """POST /projects/:id/statuses/:sha with the status `name` = `context`.

        GitLab answers 400 "Cannot transition status via :success from :success" when the
        same status is posted again for the same commit (a retried task after a lost answer):
        the status is there, which is all the portal asked for.
        """
        wanted = _COMMIT_STATES[state]
        status, data = self._request(
            "POST",
            f"/statuses/{quote(sha, safe='')}",
            "posting a commit status",
            ok=(200, 201, 400),
            json={
                "state": wanted,
                "name": context,
                "description": status_description(description),
                "target_url": target_url,
            },
        )
        if status != 400:
            return
        text = str(data.get("message", "")) if isinstance(data, dict) else ""
        if f"from :{wanted}" in text and "cannot transition status" in text.lower():
            return
        error = ForgePermanentError(f"GitLab posting a commit status failed with 400: {text}")
        if self._token:
            error.args = tuple(str(a).replace(self._token, "***") for a in error.args)
        raise error
