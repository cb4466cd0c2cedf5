"""The GitHub and GitLab webhooks: pull request outcomes pushed by the forge (issue 7).

GitLab (`POST /webhooks/gitlab/`): the `X-Gitlab-Token` header must equal FORGE_WEBHOOK_SECRET
(compared in constant time); deliveries are de-duplicated by `X-Gitlab-Event-UUID`; merge
request events apply the same step as GitHub's (merged, closed, or conflicting: regenerate)
and a push to the default branch triggers a poll. The same body cap and answers apply.

GitHub (`POST /webhooks/github/`), reached without signing in: its protection is the
`X-Hub-Signature-256` HMAC SHA-256 of the
raw body with FORGE_WEBHOOK_SECRET, compared in constant time. Without a configured secret
every delivery is refused. Deliveries are de-duplicated by `X-GitHub-Delivery` (a
`WebhookDelivery` row, written in the same transaction as the outcome, so a delivery that
failed half-way is processed again when GitHub redelivers it). Neither the secret nor the
body is ever logged.

Answers: 200 for ping, an applied or already-applied outcome and a duplicate; 202 for an
event, action or repository the portal does not act on; 400 for a malformed delivery; 403
for a bad or missing signature; 405 for anything but POST; 413 past `MAX_BODY_BYTES`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accessportal.effects import enqueue_on_commit
from fulfilment.models import PullRequest, WebhookDelivery
from fulfilment.sync import pull_request_apply_state
from provisioning.forges import PullRequestState

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024


def _answer(status: int, outcome: str) -> JsonResponse:
    return JsonResponse({"status": outcome}, status=status)


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    """Whether `header` is "sha256=<hex HMAC of body with secret>"; False without a secret."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY_BYTES (read no further)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _our_repository(payload: dict[str, Any]) -> bool:
    repository = payload.get("repository") or {}
    full_name = str(repository.get("full_name") or "") if isinstance(repository, dict) else ""
    wanted = settings.FORGE_REPOSITORY
    return bool(wanted) and full_name.casefold() == wanted.casefold()


def _pull_request_outcome(
    payload: dict[str, Any],
) -> tuple[int, PullRequestState, str, str] | None:
    """(number, state, merge sha, head sha) of a `pull_request` "closed" delivery for our
    repository. The head is what GitHub merged; it is checked against the approved commit."""
    if payload.get("action") != "closed" or not _our_repository(payload):
        return None
    pull = payload.get("pull_request")
    if not isinstance(pull, dict) or not isinstance(pull.get("number"), int):
        return None
    merged = pull.get("merged") is True
    state = PullRequestState.MERGED if merged else PullRequestState.CLOSED
    if not merged:
        return pull["number"], state, "", ""
    head = pull.get("head")
    head_sha = head.get("sha") if isinstance(head, dict) else None
    return (
        pull["number"],
        state,
        str(pull.get("merge_commit_sha") or ""),
        head_sha if isinstance(head_sha, str) else "",
    )


def _conflicted_number(payload: dict[str, Any]) -> int | None:
    """The number of an open pull request the delivery says cannot merge (GitHub:
    `mergeable: false` or `mergeable_state: "dirty"`), for our repository."""
    pull = payload.get("pull_request")
    if not isinstance(pull, dict) or not _our_repository(payload):
        return None
    if pull.get("state") != "open" or not isinstance(pull.get("number"), int):
        return None
    if pull.get("mergeable") is False or pull.get("mergeable_state") == "dirty":
        return int(pull["number"])
    return None


def regenerate_on_commit(forge: str, number: int, source: str) -> bool:
    """Queues the regeneration of our open pull request `number`; False if it is not ours."""

    row = PullRequest.objects.filter(
        forge=forge, number=number, state=PullRequest.State.OPEN
    ).first()
    if row is None:
        return False
    enqueue_on_commit("fulfilment.tasks.pull_request_regenerate_task", row.pk, source)
    return True


def poll_on_commit() -> None:
    """The default branch moved: poll the open pull requests (mergeability) after commit."""

    enqueue_on_commit("fulfilment.tasks.pull_requests_sync_task")


def _receive(
    request: HttpRequest,
    *,
    forge: str,
    authentic: Callable[[bytes], bool],
    delivery_header: str,
    event_header: str,
    handle: Callable[[str, dict[str, Any], str], JsonResponse],
) -> HttpResponse:
    """What both forges' webhooks do: cap the body, check authenticity before reading
    anything else, parse, and handle each delivery id once (in the transaction that records
    it, so a delivery that failed half-way is processed again when the forge redelivers)."""
    body = _read_body(request)
    if body is None:
        return _answer(413, "too large")
    if not authentic(body):
        logger.warning("%s webhook refused: missing or invalid signature or token", forge)
        return _answer(403, "forbidden")
    delivery_id = request.headers.get(delivery_header, "").strip()
    event = request.headers.get(event_header, "").strip()
    if not delivery_id or len(delivery_id) > 100 or not event:
        return _answer(400, "missing delivery or event")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: a body nested deeper than the parser's stack (a signed one too: the
        # secret proves who sent it, not that it is sane).
        return _answer(400, "invalid json")
    if not isinstance(payload, dict):
        return _answer(400, "invalid json")
    try:
        with transaction.atomic():
            _, created = WebhookDelivery.objects.get_or_create(
                delivery_id=delivery_id, defaults={"forge": forge, "event": event[:50]}
            )
            if not created:
                logger.info("%s delivery %s already handled", forge, delivery_id)
                return _answer(200, "duplicate")
            return handle(event, payload, delivery_id)
    except IntegrityError:  # a concurrent delivery with the same id won
        return _answer(200, "duplicate")


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("X-Hub-Signature-256", "")
    return _receive(
        request,
        forge=PullRequest.Forge.GITHUB,
        authentic=lambda body: signature_valid(settings.FORGE_WEBHOOK_SECRET, body, header),
        delivery_header="X-GitHub-Delivery",
        event_header="X-GitHub-Event",
        handle=_handle,
    )


def _handle(event: str, payload: dict[str, Any], delivery_id: str) -> JsonResponse:
    if event == "ping":
        return _answer(200, "pong")
    if event == "push":
        default = f"refs/heads/{settings.SUBSTRATE_DEFAULT_BRANCH}"
        if payload.get("ref") == default and _our_repository(payload):
            poll_on_commit()  # open pull requests may conflict with the new tip now
            return _answer(200, "polling")
        return _answer(202, "ignored")
    if event != "pull_request":
        return _answer(202, "ignored")
    conflicted = _conflicted_number(payload)
    if conflicted is not None:
        if regenerate_on_commit(PullRequest.Forge.GITHUB, conflicted, "webhook"):
            return _answer(200, "regenerating")
        return _answer(202, "ignored")
    outcome = _pull_request_outcome(payload)
    if outcome is None:
        return _answer(202, "ignored")
    number, state, merge_sha, head_sha = outcome
    row = PullRequest.objects.filter(forge=PullRequest.Forge.GITHUB, number=number).first()
    if row is None:
        return _answer(202, "ignored")
    changed = pull_request_apply_state(
        pr_id=row.pk, state=state, source="webhook", merge_sha=merge_sha, head_sha=head_sha
    )
    logger.info(
        "GitHub delivery %s: pull request #%s %s (%s)",
        delivery_id,
        number,
        state,
        "applied" if changed else "already applied",
    )
    return _answer(200, "applied" if changed else "unchanged")


# --- GitLab ---------------------------------------------------------------------------------


def gitlab_token_valid(secret: str, header: str) -> bool:
    """Whether the `X-Gitlab-Token` header equals the secret; False without a secret."""
    if not secret or not header:
        return False
    return hmac.compare_digest(secret.encode(), header.encode())


def _gitlab_project_ours(payload: dict[str, Any]) -> bool:
    project = payload.get("project") or {}
    path = str(project.get("path_with_namespace") or "") if isinstance(project, dict) else ""
    wanted = settings.FORGE_REPOSITORY
    return bool(wanted) and path.casefold() == wanted.strip("/").casefold()


def _gitlab_handle(event: str, payload: dict[str, Any], delivery_id: str) -> JsonResponse:
    kind = payload.get("object_kind")
    if not _gitlab_project_ours(payload):
        return _answer(202, "ignored")
    if kind == "push":
        if payload.get("ref") == f"refs/heads/{settings.SUBSTRATE_DEFAULT_BRANCH}":
            poll_on_commit()
            return _answer(200, "polling")
        return _answer(202, "ignored")
    attributes = payload.get("object_attributes")
    if kind != "merge_request" or not isinstance(attributes, dict):
        return _answer(202, "ignored")
    number = attributes.get("iid")
    if not isinstance(number, int):
        return _answer(400, "missing merge request iid")
    state = attributes.get("state")
    if state == "opened":
        conflicted = (
            attributes.get("merge_status") == "cannot_be_merged"
            or attributes.get("detailed_merge_status") == "conflict"
            or attributes.get("has_conflicts") is True
        )
        if conflicted and regenerate_on_commit(PullRequest.Forge.GITLAB, number, "webhook"):
            return _answer(200, "regenerating")
        return _answer(202, "ignored")
    if state not in ("merged", "closed"):
        return _answer(202, "ignored")
    row = PullRequest.objects.filter(forge=PullRequest.Forge.GITLAB, number=number).first()
    if row is None:
        return _answer(202, "ignored")
    merged = state == "merged"
    # The merge request's head as GitLab merged it; checked against the approved commit.
    last_commit = attributes.get("last_commit")
    head_sha = last_commit.get("id") if isinstance(last_commit, dict) else None
    changed = pull_request_apply_state(
        pr_id=row.pk,
        state=PullRequestState.MERGED if merged else PullRequestState.CLOSED,
        source="webhook",
        merge_sha=str(attributes.get("merge_commit_sha") or "") if merged else "",
        head_sha=head_sha if merged and isinstance(head_sha, str) else "",
    )
    logger.info(
        "GitLab delivery %s: merge request !%s %s (%s)",
        delivery_id,
        number,
        state,
        "applied" if changed else "already applied",
    )
    return _answer(200, "applied" if changed else "unchanged")


@csrf_exempt
@require_POST
def gitlab_webhook(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("X-Gitlab-Token", "")
    return _receive(
        request,
        forge=PullRequest.Forge.GITLAB,
        authentic=lambda _body: gitlab_token_valid(settings.FORGE_WEBHOOK_SECRET, header),
        delivery_header="X-Gitlab-Event-UUID",
        event_header="X-Gitlab-Event",
        handle=_gitlab_handle,
    )


urlpatterns = [
    path("webhooks/github/", github_webhook, name="webhook_github"),
    path("webhooks/gitlab/", gitlab_webhook, name="webhook_gitlab"),
]
