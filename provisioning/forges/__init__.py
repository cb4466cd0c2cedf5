"""Forges: where the portal proposes changes to the Substrate repository as pull requests.

`Forge` is the interface the fulfilment tasks use; `GitHubForge` and `LocalForge` implement
it, as does `GitLabForge` (merge requests); `pull_request_body` renders what the pull request says.
The git side (mirror, branch, commit, push) lives in `provisioning.gitrepo`.
"""

from .base import (
    STATUS_DESCRIPTION_LIMIT,
    CommitState,
    Forge,
    ForgeError,
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestInfo,
    PullRequestState,
    status_description,
)
from .body import GITHUB_BODY_LIMIT, md_code, md_text, pull_request_body
from .githubapi import GitHubForge
from .gitlab import GitLabForge
from .local import (
    InMemoryPullRequestStore,
    LocalForge,
    MergeConflict,
    PullRequestRecord,
    PullRequestStore,
)

__all__ = [
    "GITHUB_BODY_LIMIT",
    "STATUS_DESCRIPTION_LIMIT",
    "CommitState",
    "Forge",
    "ForgeError",
    "ForgePermanentError",
    "ForgeTemporaryError",
    "GitHubForge",
    "GitLabForge",
    "InMemoryPullRequestStore",
    "LocalForge",
    "MergeConflict",
    "PullRequestInfo",
    "PullRequestRecord",
    "PullRequestState",
    "PullRequestStore",
    "md_code",
    "md_text",
    "pull_request_body",
    "status_description",
]
