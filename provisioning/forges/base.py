"""What every forge offers the fulfilment worker: find, open and follow one pull request."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PullRequestState(StrEnum):
    """A pull request's state as the portal needs it (GitHub's "closed" splits in two)."""

    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"


@dataclass(frozen=True)
class PullRequestInfo:
    """One pull request, as plain values the Django layer can store."""

    number: int
    url: str
    branch: str
    base: str
    state: PullRequestState
    head_sha: str = ""
    title: str = ""
    # False when the forge says the pull request conflicts with its base (regenerate it);
    # None when unknown or not computed yet (GitHub computes mergeability lazily).
    mergeable: bool | None = None


class CommitState(StrEnum):
    """A commit status as the portal posts it; each forge maps it to its own word."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


# GitHub refuses a longer status description (422); GitLab takes more, but one limit keeps
# the text the same on both.
STATUS_DESCRIPTION_LIMIT = 140


def status_description(text: str) -> str:
    """`text` on one line, cut to the forges' limit with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= STATUS_DESCRIPTION_LIMIT:
        return text
    return text[: STATUS_DESCRIPTION_LIMIT - 1] + "\u2026"


class ForgeError(Exception):
    """The forge failed; the message never holds the token."""


class ForgeTemporaryError(ForgeError):
    """5xx, timeouts and rate limits: retry later (after `retry_after` seconds if known)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForgePermanentError(ForgeError):
    """Bad credentials, missing repository or branch, validation errors: retrying won't help."""


class Forge(Protocol):
    """A place where the portal proposes changes to the Substrate repository."""

    def find_open_pull_request(self, branch: str) -> PullRequestInfo | None:
        """The open pull request from `branch`, if there is one."""
        ...

    def open_pull_request(self, branch: str, base: str, title: str, body: str) -> PullRequestInfo:
        """Opens a pull request from `branch` into `base`, or returns the one already open."""
        ...

    def pull_request_state(self, number: int) -> PullRequestState:
        """Whether pull request `number` is open, merged or closed without merging."""
        ...

    def pull_request(self, number: int) -> PullRequestInfo:
        """Pull request `number` with its state and, while open, whether it can merge."""
        ...

    def close_pull_request(self, number: int) -> None:
        """Closes pull request `number` without merging it (no-op unless open)."""
        ...

    def update_pull_request_body(self, number: int, body: str) -> None:
        """Replaces the description of pull request `number` (after a regeneration)."""
        ...

    def set_commit_status(
        self, sha: str, *, state: CommitState, context: str, description: str, target_url: str
    ) -> None:
        """Sets the status named `context` on commit `sha` (a pull request's head).

        Branch protection requiring `context` is what stops a merge the portal did not
        approve (SOC2.md section 3 rule 7): a push to the branch makes a new head without it.
        """
        ...
