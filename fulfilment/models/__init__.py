"""Fulfilment's records: the pull requests that carry each change, and the forges' webhooks."""

from fulfilment.models.pullrequests import UNAPPROVED_HEAD, PullRequest, PullRequestModelStore
from fulfilment.models.webhooks import WebhookDelivery

__all__ = ["UNAPPROVED_HEAD", "PullRequest", "PullRequestModelStore", "WebhookDelivery"]
