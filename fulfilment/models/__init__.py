"""Fulfilment's records: the pull requests that carry each change, and the forges' webhooks."""

from fulfilment.models.pullrequests import (
    ACTIVE_ROWS,
    ENDED_REVOCATION,
    PR_LIFECYCLE,
    UNAPPROVED_HEAD,
    PullRequest,
    PullRequestModelStore,
    forge_state_copy,
)
from fulfilment.models.webhooks import WebhookDelivery

__all__ = [
    "ACTIVE_ROWS",
    "ENDED_REVOCATION",
    "PR_LIFECYCLE",
    "UNAPPROVED_HEAD",
    "PullRequest",
    "PullRequestModelStore",
    "WebhookDelivery",
    "forge_state_copy",
]
