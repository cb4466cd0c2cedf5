"""GitHub (and GitHub Enterprise Server) pull requests through PyGithub, with a token or as
a GitHub App installation (a JWT signed with the app's private key buys a short-lived
installation token, which also authenticates git pushes; PyGithub renews it).

PyGithub's own retry loop is switched off: it would sleep inside the Celery task for minutes.
Transient failures (5xx, timeouts, primary and secondary rate limits) raise
`ForgeTemporaryError` with GitHub's `retry-after` / `x-ratelimit-reset` hint instead, and the
task retries with backoff; other 4xx raise `ForgePermanentError`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, RateLimitExceededException
from github.PullRequest import PullRequest

from .base import (
    CommitState,
    ForgeError,
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestInfo,
    PullRequestState,
    status_description,
)

T = TypeVar("T")
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def _retry_after(headers: dict[str, Any] | None) -> float | None:
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    with contextlib.suppress(KeyError, ValueError):
        return max(0.0, float(headers["retry-after"]))
    if headers.get("x-ratelimit-remaining") == "0":
        with contextlib.suppress(KeyError, ValueError):
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
    return None


def _is_rate_limited(exc: GithubException) -> bool:
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    message = str((exc.data or {}).get("message", "")).lower() if isinstance(exc.data, dict) else ""
    return (
        isinstance(exc, RateLimitExceededException)
        or headers.get("x-ratelimit-remaining") == "0"
        or "retry-after" in headers
        or "rate limit" in message
    )


def _message(exc: GithubException) -> str:
    if isinstance(exc.data, dict):
        text = str(exc.data.get("message") or "")
        errors = exc.data.get("errors")
        if isinstance(errors, list):
            details = [
                str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict)
            ]
            text = "; ".join([text, *details]) if text else "; ".join(details)
        return text
    return ""


def _info(pull: PullRequest, *, with_mergeable: bool = False) -> PullRequestInfo:
    mergeable: bool | None = None
    if with_mergeable and pull.state == "open":
        # "dirty" is GitHub's word for a merge conflict; `mergeable` is null until computed.
        if pull.mergeable is False or pull.mergeable_state == "dirty":
            mergeable = False
        elif pull.mergeable is True:
            mergeable = True
    if pull.merged:
        state = PullRequestState.MERGED
    elif pull.state == "closed":
        state = PullRequestState.CLOSED
    else:
        state = PullRequestState.OPEN
    return PullRequestInfo(
        number=pull.number,
        url=pull.html_url,
        branch=pull.head.ref,
        base=pull.base.ref,
        state=state,
        head_sha=pull.head.sha,
        title=pull.title,
        mergeable=mergeable,
    )


class GitHubForge:
    """Pull requests on `repository` ("owner/name") through GitHub's REST API."""

    def __init__(
        self,
        *,
        api_url: str,
        repository: str,
        token: str = "",
        app_id: str = "",
        app_private_key: str = "",
        app_installation_id: int = 0,
        timeout: int = 15,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
    ) -> None:
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ForgePermanentError(f"FORGE_REPOSITORY must be 'owner/name', not {repository!r}.")
        self.owner = owner
        self.repository = repository
        self._token = token
        self._secrets = [token]  # scrubbed from every error message
        auth: Auth.Auth
        self._app_auth: Auth.AppInstallationAuth | None = None
        if app_id:
            if not app_private_key or not app_installation_id:
                raise ForgePermanentError(
                    "A GitHub App needs its id, installation id and private key."
                )
            self._app_auth = Auth.AppAuth(app_id, app_private_key).get_installation_auth(
                int(app_installation_id)
            )
            auth = self._app_auth
        elif token:
            auth = Auth.Token(token)
        else:
            raise ForgePermanentError("GitHub needs a token or a GitHub App.")
        # The throttles are GitHub's advice against secondary rate limits; tests set them to 0.
        self._github = Github(
            lazy=True,  # no request until used; get_repo skips the GET /repos/{o}/{r} round trip
            base_url=(api_url or "https://api.github.com").rstrip("/"),
            auth=auth,
            timeout=timeout,
            retry=None,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._repo = self._github.get_repo(repository)

    def __repr__(self) -> str:
        return f"GitHubForge({self.repository!r})"

    def _call(self, action: str, call: Callable[[], T]) -> T:
        """Runs `call`, mapping PyGithub/requests errors to forge errors, scrubbed.

        Raised after the `except` block, so the forge error carries no `__context__` (the
        original holds request details).
        """
        try:
            return call()
        except GithubException as exc:
            text = f"GitHub {action} failed with {exc.status}: {_message(exc)}"
            if exc.status in _TRANSIENT_STATUSES or (exc.status == 403 and _is_rate_limited(exc)):
                error: ForgeError = ForgeTemporaryError(text, retry_after=_retry_after(exc.headers))
            else:
                error = ForgePermanentError(text)
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = ForgeTemporaryError(f"GitHub {action} failed: {type(exc).__name__}")
        for secret in self._secrets:
            if len(secret) >= 8:  # shorter "tokens" are test values; scrubbing them garbles text
                error.args = tuple(str(a).replace(secret, "***") for a in error.args)
        raise error

    def git_token(self) -> str:
        """The token git pushes use: the configured one, or a current installation token."""
        if self._app_auth is None:
            return self._token
        app_auth = self._app_auth
        token = self._call("getting an installation token", lambda: app_auth.token)
        if token not in self._secrets:
            self._secrets.append(token)
        return token

    def find_open_pull_request(self, branch: str) -> PullRequestInfo | None:
        """The open pull request whose head is `owner:branch`, if any."""

        def find() -> PullRequestInfo | None:
            for pull in self._repo.get_pulls(state="open", head=f"{self.owner}:{branch}"):
                if pull.head.ref == branch:  # defensive: the filter is GitHub's, not ours
                    return _info(pull)
            return None

        return self._call("listing pull requests", find)

    def open_pull_request(self, branch: str, base: str, title: str, body: str) -> PullRequestInfo:
        """Opens the pull request, or returns the one already open for `branch`.

        Looks first (a retried task usually finds it); if another worker wins the race,
        GitHub answers 422 for the duplicate and the existing one is looked up again.
        """
        existing = self.find_open_pull_request(branch)
        if existing is not None:
            return existing

        def create() -> PullRequestInfo | None:
            try:
                return _info(self._repo.create_pull(base=base, head=branch, title=title, body=body))
            except GithubException as exc:
                if exc.status != 422 or "already exists" not in _message(exc).lower():
                    raise  # a missing branch or base is a 422 too, and permanent
            return None

        created = self._call("opening a pull request", create)
        if created is not None:
            return created
        existing = self.find_open_pull_request(branch)
        if existing is None:
            raise ForgePermanentError(
                f"GitHub reports an open pull request for {branch}; none found."
            )
        return existing

    def pull_request_state(self, number: int) -> PullRequestState:
        """Open, merged or closed, from GET /repos/{o}/{r}/pulls/{number}."""
        return self.pull_request(number).state

    def pull_request(self, number: int) -> PullRequestInfo:
        """GET /repos/{o}/{r}/pulls/{number}, with `mergeable` / `mergeable_state`."""
        return self._call(
            "reading a pull request",
            lambda: _info(self._repo.get_pull(number), with_mergeable=True),
        )

    def close_pull_request(self, number: int) -> None:
        """PATCH /repos/{o}/{r}/pulls/{number} with state "closed" (if still open)."""

        def close() -> None:
            pull = self._repo.get_pull(number)
            if pull.state == "open":
                pull.edit(state="closed")

        self._call("closing a pull request", close)

    def update_pull_request_body(self, number: int, body: str) -> None:
        """PATCH /repos/{o}/{r}/pulls/{number} with the new body."""
        self._call("updating a pull request", lambda: self._repo.get_pull(number).edit(body=body))

    def set_commit_status(
        self, sha: str, *, state: CommitState, context: str, description: str, target_url: str
    ) -> None:
        """POST /repos/{o}/{r}/statuses/{sha}: GitHub's states are the portal's words.

        `get_commit` is lazy (no request); GitHub keeps every post and shows the latest per
        context, so posting the same status twice is harmless.
        """
        self._call(
            "posting a commit status",
            lambda: self._repo.get_commit(sha).create_status(
                state=str(state),
                target_url=target_url,
                description=status_description(description),
                context=context,
            ),
        )
