"""Fulfilment: an approved request's change set, pushed on its own branch, as a pull request.

`request_provision` is what `provision_access_task` runs (issue 7). It is idempotent: the
status moves APPROVED -> PROVISIONING once, the branch name is derived from the request,
`prepare_branch` pushes nothing when the branch already holds the change set, and an open (or
pending) pull-request row for the branch is reused. Network I/O happens outside any database
transaction; the short transactions around it take the request's row lock.

Errors: remote git failures and temporary forge errors (5xx, rate limits) are recorded on the
pull-request row and re-raised so that the task retries with backoff; everything else that
retrying cannot fix moves the request to FAILED with a message for the user. Messages come
from `provisioning`, which scrubs tokens; `safe_message` scrubs again, in case.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.effects import enqueue_on_commit
from accessportal.roles import require_verified_security
from approvals.models import AccessRequest, Approval
from approvals.requests import generator_options, grant_for, request_url
from approvals.workflow import transition
from audit.services import audit_record
from fulfilment.models import ACTIVE_ROWS, PullRequest, PullRequestModelStore, forge_state_copy
from provisioning.forges import (
    CommitState,
    Forge,
    ForgeError,
    ForgePermanentError,
    ForgeTemporaryError,
    GitHubForge,
    GitLabForge,
    LocalForge,
    PullRequestInfo,
    pull_request_body,
)
from provisioning.gitrepo import GitError, GitRemoteError, Mirror, branch_name, export_tree
from provisioning.repo_url import RepoUrlError, local_repo_path
from provisioning.substrate import ChangeSet, SubstrateError, generate_changeset, revoke_changeset
from provisioning.text import one_line

logger = logging.getLogger(__name__)
Status = AccessRequest.Status
AUTHOR = "Vendor access portal <vendor-access-portal@localhost>"


class FulfilmentError(Exception):
    """Provisioning cannot go on and retrying will not help; the message is for the user."""


def safe_message(exc: BaseException | str) -> str:
    """The error's message with any configured secret removed, on one line, capped."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in (settings.FORGE_TOKEN, _url_password(settings.SUBSTRATE_REPO_URL)):
        if secret:
            text = text.replace(secret, "***")
    return text[:1000]


def _url_password(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def forge_for_settings() -> Forge:
    """The forge that FORGE and its settings name; ForgePermanentError when misconfigured."""
    kind = settings.FORGE
    if kind == PullRequest.Forge.LOCAL:
        try:
            path = local_repo_path(settings.SUBSTRATE_REPO_URL)
        except RepoUrlError as exc:
            raise ForgePermanentError(str(exc)) from None
        if path is None:
            raise ForgePermanentError(
                "FORGE=local needs SUBSTRATE_REPO_URL to be a local repository path."
            )
        template = reverse("approvals:pullrequest_detail", kwargs={"number": 0}).replace(
            "/0/", "/{number}/"
        )
        return LocalForge(path, PullRequestModelStore(), url_template=template)
    if kind == PullRequest.Forge.GITHUB:
        if settings.FORGE_GITHUB_APP_ID:
            return GitHubForge(
                api_url=settings.FORGE_API_URL,
                repository=settings.FORGE_REPOSITORY,
                app_id=settings.FORGE_GITHUB_APP_ID,
                app_private_key=settings.FORGE_GITHUB_APP_PRIVATE_KEY,
                app_installation_id=settings.FORGE_GITHUB_APP_INSTALLATION_ID,
            )
        if not settings.FORGE_TOKEN:
            raise ForgePermanentError("FORGE=github needs FORGE_TOKEN or a GitHub App.")
        return GitHubForge(
            api_url=settings.FORGE_API_URL,
            repository=settings.FORGE_REPOSITORY,
            token=settings.FORGE_TOKEN,
        )
    if kind == PullRequest.Forge.GITLAB:
        if not settings.FORGE_TOKEN:
            raise ForgePermanentError("FORGE=gitlab needs FORGE_TOKEN.")
        return GitLabForge(
            api_url=settings.FORGE_API_URL,
            project=settings.FORGE_REPOSITORY,
            token=settings.FORGE_TOKEN,
        )
    raise ForgePermanentError(_("The %(forge)s forge is not supported yet.") % {"forge": kind})


def _mirror(forge: Forge | None = None) -> Mirror:
    url = settings.SUBSTRATE_REPO_URL
    # Credentials written in the URL win; otherwise the forge token authenticates git too
    # (for a GitHub App, a current installation token).
    token = None if _url_password(url) else (settings.FORGE_TOKEN or None)
    git_token = getattr(forge, "git_token", None)  # GitHubForge's: the app's token
    if token is None and git_token is not None and not _url_password(url):
        token = git_token() or None
    # GitLab takes a token over HTTPS with the user name "oauth2"; GitHub with any name.
    username = "oauth2" if token and settings.FORGE == PullRequest.Forge.GITLAB else None
    return Mirror(url, Path(settings.VAR_DIR) / "mirrors", token=token, username=username)


def _generate(mirror: Mirror, grant: Any, base: str, *, revoke: bool = False) -> ChangeSet:
    """The grant's (or its revocation's) change set against the current tip of `base`."""
    heads = mirror.sync()
    if base not in heads:
        raise FulfilmentError(_("The Substrate repository has no branch %(b)s.") % {"b": base})
    build = revoke_changeset if revoke else generate_changeset
    with mirror.locked() as repo, tempfile.TemporaryDirectory(prefix="substrate-gen-") as folder:
        commit = repo[heads[base].encode()]
        export_tree(repo, commit.tree, Path(folder))  # type: ignore[attr-defined]
        return build(Path(folder), grant, generator_options())


@contextlib.contextmanager
def mirrored_default_branch() -> Iterator[tuple[Path, str]]:
    """(folder, commit) of the default branch's tree from the cached mirror, fetched now.

    For previews when SUBSTRATE_REPO_URL is remote (a local path is read directly by
    `provisioning.checkout`). `RepositoryUnavailable` with a token-free reason otherwise.
    """
    from provisioning.checkout import RepositoryUnavailable

    base = settings.SUBSTRATE_DEFAULT_BRANCH
    try:
        forge = forge_for_settings() if settings.FORGE == PullRequest.Forge.GITHUB else None
        mirror = _mirror(forge)
        heads = mirror.sync()
    except (ForgeError, GitError) as exc:
        raise RepositoryUnavailable(safe_message(exc)) from None
    if base not in heads:
        raise RepositoryUnavailable(_("The repository has no branch %(b)s.") % {"b": base})
    with mirror.locked() as repo, tempfile.TemporaryDirectory(prefix="substrate-preview-") as f:
        commit = repo[heads[base].encode()]
        export_tree(repo, commit.tree, Path(f))  # type: ignore[attr-defined]
        yield Path(f), heads[base]


def stored_commands(changeset: ChangeSet) -> list[dict[str, str]]:
    """The change set's post-merge commands as the pull-request row keeps them."""
    return [{"shell": c.shell, "why": c.why} for c in changeset.commands]


def push_change(row: PullRequest, mirror: Mirror, changeset: ChangeSet, body: str) -> str:
    """Stores what the pull request proposes on its row, then pushes the portal's branch.

    The commands and body are saved before the push, so a worker killed after the push (or
    after opening the pull request) leaves a row that already knows them; the pushed head is
    saved after it (`pushed_sha`), the one commit the approval status may be set on.
    """
    PullRequest.objects.filter(pk=row.pk).update(
        commands=stored_commands(changeset), body=body, base=row.base
    )
    head = mirror.prepare_branch(
        base_branch=row.base,
        branch=row.branch,
        changeset=changeset,
        author=AUTHOR,
        # The subject line is the title, which the forge may have changed since: one line,
        # without bidirectional controls, whatever it holds.
        message=f"{one_line(row.title)}\n\nGenerated by the vendor access portal.\n",
    )
    # What the approval status may attest and the only commit a merge may carry: this one,
    # generated from the approved request, and nothing pushed after it.
    PullRequest.objects.filter(pk=row.pk).update(pushed_sha=head, approved_sha=head)
    return head


def propose(
    row: PullRequest,
    *,
    grant: Any,
    body: Callable[[ChangeSet], str],
    revoke: bool = False,
) -> PullRequestInfo | None:
    """Opens the pull request of `row` (grant or revocation), or finds the one already open.

    Shared by provisioning and revocation: an open pull request for the branch is reused
    without regenerating anything; otherwise the change set is generated on the current tip
    of the base branch, pushed and proposed. None when the change set is empty (there is
    nothing to propose). Forge and git errors propagate for the caller to classify.
    """
    forge = forge_for_settings()
    existing = forge.find_open_pull_request(row.branch)
    if existing is not None:
        return existing
    mirror = _mirror(forge)
    changeset = _generate(mirror, grant, row.base, revoke=revoke)
    if changeset.is_empty:
        return None
    push_change(row, mirror, changeset, body(changeset))
    return forge.open_pull_request(row.branch, row.base, row.title, body(changeset))


# Errors a retry may fix (the task retries with backoff) and errors it cannot.
TEMPORARY_ERRORS = (GitRemoteError, ForgeTemporaryError)
PERMANENT_ERRORS = (FulfilmentError, ForgeError, GitError, SubstrateError, ValueError)


def request_body(access_request: AccessRequest, changeset: ChangeSet) -> str:
    approvers = (
        access_request.approvals.filter(decision=Approval.Decision.APPROVE)
        .select_related("approver")
        .order_by("created_at")
    )
    accounts = [
        f"{a.account_id} {a.domain}/{a.environment}/{a.quality}"
        for a in access_request.target_accounts.order_by("domain", "environment", "quality")
    ]
    return pull_request_body(
        vendor=access_request.vendor.name,
        strategy=access_request.strategy,
        accounts=accounts,
        principals=list(access_request.principals),
        external_id_note=(
            "required (shown on the request page)" if access_request.external_id else "none"
        ),
        approvers=[a.approver.get_username() for a in approvers],
        expires_at=access_request.expires_on,
        request_url=request_url(access_request.pk),
        changeset=changeset,
        findings=[str(f.get("message", "")) for f in access_request.lint_findings or []],
    )


def _start(request_id: int) -> tuple[AccessRequest, PullRequest, Any] | None:
    """Locks the request, moves it to PROVISIONING, returns it with its pending row and grant.

    None when there is nothing to do: already past provisioning, failed or revoked.
    """
    with transaction.atomic():
        access_request = (
            AccessRequest.objects.select_for_update().select_related("vendor").get(pk=request_id)
        )
        if access_request.status == Status.APPROVED:
            transition(
                access_request, to=Status.PROVISIONING, actor=None, action="request.provision"
            )
        elif access_request.status != Status.PROVISIONING:
            logger.info(
                "Request #%s is %s: nothing to provision", request_id, access_request.status
            )
            return None
        branch = branch_name(access_request.pk, access_request.vendor.slug)
        row = PullRequest.objects.filter(
            forge=settings.FORGE, branch=branch, state__in=ACTIVE_ROWS
        ).first()
        if row is None:
            row = PullRequest.objects.create(
                access_request=access_request,
                forge=settings.FORGE,
                branch=branch,
                base=settings.SUBSTRATE_DEFAULT_BRANCH,
                title=one_line(
                    f"Vendor access: {access_request.vendor.name} (request #{access_request.pk})"
                )[:300],
            )
        PullRequest.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        try:
            grant = grant_for(access_request)
        except ValueError as exc:
            grant = FulfilmentError(safe_message(exc))
        return access_request, row, grant


def pull_request_error_record(row: PullRequest, message: str) -> None:
    PullRequest.objects.filter(pk=row.pk).update(last_error=message)


def _fail(request_id: int, row: PullRequest, message: str) -> None:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        PullRequest.objects.filter(pk=row.pk).update(last_error=message)
        if access_request.status != Status.PROVISIONING:
            return
        transition(
            access_request,
            to=Status.FAILED,
            actor=None,
            action="request.provision_fail",
            detail={"error": message},
        )


def _finish(request_id: int, row: PullRequest, info: PullRequestInfo) -> PullRequest:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        row = PullRequest.objects.select_for_update().get(pk=row.pk)
        row.number, row.url, row.head_sha = info.number, info.url, info.head_sha
        row.title = info.title or row.title
        row.last_error = ""
        forge_state_copy(
            row, info.state, extra_fields=["number", "url", "head_sha", "title", "last_error"]
        )
        if access_request.status in (Status.PROVISIONING, Status.PR_OPEN):
            status_on_commit(row)
        if access_request.status == Status.PROVISIONING:
            transition(
                access_request,
                to=Status.PR_OPEN,
                actor=None,
                action="request.pr_open",
                detail={"pull_request": info.number, "url": info.url, "branch": info.branch},
            )
        elif access_request.status == Status.REVOKED:
            # Revoked while this attempt was opening the pull request: the revocation task
            # closes it (it may have run before the pull request existed).

            enqueue_on_commit("fulfilment.tasks.revoke_access_task", request_id)
    return row


def request_provision(*, request_id: int) -> PullRequest | None:
    """Opens (or finds) the pull request of an approved request; see the module docstring.

    Raises `GitRemoteError` or `ForgeTemporaryError` for the task to retry; returns None when
    there was nothing to do or the request failed for good.
    """
    started = _start(request_id)
    if started is None:
        return None
    access_request, row, grant = started
    try:
        if isinstance(grant, FulfilmentError):
            raise grant
        existing = propose(row, grant=grant, body=lambda cs: request_body(access_request, cs))
        if existing is None:
            raise FulfilmentError(
                _("The Substrate repository already grants this: there is nothing to propose.")
            )
    except TEMPORARY_ERRORS as exc:
        pull_request_error_record(row, safe_message(exc))
        raise
    except PERMANENT_ERRORS as exc:
        message = safe_message(exc)
        logger.warning("Provisioning request #%s failed: %s", request_id, message)
        _fail(request_id, row, message)
        return None
    return _finish(request_id, row, existing)


def request_provision_give_up(*, request_id: int, message: str) -> None:
    """Temporary errors outlasted the task's retries: the request fails with the last one."""
    row = latest_active_row(request_id, PullRequest.Purpose.GRANT)
    if row is not None:
        _fail(request_id, row, gave_up_message(message))


def latest_active_row(request_id: int, purpose: str) -> PullRequest | None:
    """The newest pending or open pull-request row of `purpose`: the one a task works on."""
    return (
        PullRequest.objects.filter(
            access_request_id=request_id, purpose=purpose, state__in=ACTIVE_ROWS
        )
        .order_by("-pk")
        .first()
    )


def gave_up_message(message: str) -> str:
    """What the request page says when temporary errors outlasted a task's retries."""
    return safe_message(_("Gave up after repeated errors: %(e)s") % {"e": message})


@transaction.atomic
def request_retry(*, request_id: int, actor: Any, mfa_verified: bool) -> AccessRequest:
    """Security sends a failed request back to APPROVED and queues provisioning again."""

    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team retries provisioning.")
    )
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    if access_request.status != Status.FAILED:
        raise ValidationError(_("Only a failed request can be retried."))
    transition(access_request, to=Status.APPROVED, actor=actor, action="request.provision_retry")
    return access_request


@transaction.atomic
def local_pull_request_merge(*, pr_id: int, actor: Any, mfa_verified: bool) -> PullRequest:
    """Security merges a local-forge pull request; its request becomes active."""
    require_verified_security(
        actor, mfa_verified=mfa_verified, refusal=_("Only the security team merges pull requests.")
    )
    row = PullRequest.objects.select_for_update().get(pk=pr_id, forge=PullRequest.Forge.LOCAL)
    if row.state != PullRequest.State.OPEN or row.number is None:
        raise ValidationError(_("Only an open pull request can be merged."))
    access_request = AccessRequest.objects.select_for_update().get(pk=row.access_request_id)
    forge = forge_for_settings()
    if not isinstance(forge, LocalForge):  # FORGE changed since this pull request was opened
        raise ValidationError(_("This pull request is on the local forge, which is not in use."))
    if not row.approved_sha:
        raise ValidationError(_("This pull request has no approved commit: regenerate it."))
    committer = f"{actor.get_username()} <{actor.email or 'security@localhost'}>"
    try:
        # What the branch points to now, for the trail: someone may have pushed to it.
        branch_head = forge.branch_head(row.branch)
        # Only the approved commit is merged, never the branch's tip.
        merge_sha = forge.merge(row.number, committer=committer, sha=row.approved_sha)
    except ForgeError as exc:
        raise ValidationError(safe_message(exc)) from None
    PullRequest.objects.filter(pk=row.pk).update(merged_head_sha=row.approved_sha)
    audit_record(
        actor=actor,
        action="pullrequest.merge",
        obj=access_request,
        after={
            "pull_request": row.number,
            "branch": row.branch,
            "merge_sha": merge_sha,
            "head_sha": row.approved_sha,
            "branch_head": branch_head,
        },
    )
    from fulfilment.sync import apply_outcome

    row.refresh_from_db()
    apply_outcome(access_request, row, actor=actor, detail={"pull_request": row.number})
    return row


def pull_request_diff(row: PullRequest) -> list[dict[str, Any]]:
    """The file changes of a local pull request: its approved commit against its parent.

    Each entry: path, action (create/modify/delete) and a unified diff as text (escaped by
    the template, never marked safe).
    """
    import difflib

    from dulwich.diff_tree import tree_changes
    from dulwich.objects import Commit
    from dulwich.repo import Repo

    try:
        path = local_repo_path(settings.SUBSTRATE_REPO_URL)
    except RepoUrlError:
        path = None  # forge_for_settings has already refused such a URL
    # The approved commit is what a merge carries, so that is what security reviews.
    shown = row.approved_sha or row.head_sha
    if path is None or not shown:
        return []
    changes: list[dict[str, Any]] = []
    with Repo(str(path)) as repo:
        head = repo[shown.encode()]
        if not isinstance(head, Commit):
            return []
        parent = repo[head.parents[0]] if head.parents else None
        old_tree = parent.tree if isinstance(parent, Commit) else None
        for change in tree_changes(repo.object_store, old_tree, head.tree):
            old, new = change.old, change.new
            name = (new.path if new and new.path else old.path if old else b"") or b""
            if not (old and old.sha):
                action = "create"
            elif not (new and new.sha):
                action = "delete"
            else:
                action = "modify"

            def text(entry: Any) -> list[str]:
                if entry is None or entry.sha is None:
                    return []
                data = repo[entry.sha].as_raw_string()
                return data.decode("utf-8", "replace").splitlines(keepends=True)

            diff = difflib.unified_diff(
                text(old), text(new), fromfile=f"a/{name.decode()}", tofile=f"b/{name.decode()}"
            )
            changes.append(
                {"path": name.decode("utf-8", "replace"), "action": action, "diff": "".join(diff)}
            )
    return changes


def request_pull_requests(access_request: AccessRequest) -> dict[str, PullRequest | None]:
    """The latest grant and revocation pull-request rows of a request (one query)."""
    latest: dict[str, PullRequest | None] = {"grant": None, "revoke": None}
    for row in PullRequest.objects.filter(access_request=access_request).select_related(
        "commands_done_by"
    ):
        if latest.get(row.purpose) is None:
            latest[row.purpose] = row
    return latest


@transaction.atomic
def pull_request_commands_done(
    *, request_id: int, pr_id: int | None, actor: Any, mfa_verified: bool
) -> PullRequest:
    """Security records that the commands of a merged pull request were run; audited.

    Nothing runs Terraform on the portal's side: until someone says so, the request page
    keeps showing the commands still to run.
    """
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team records that commands were run."),
    )
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    row = (
        PullRequest.objects.select_for_update()
        .filter(access_request=access_request, pk=pr_id or 0)
        .first()
    )
    if row is None or not row.commands_pending:
        raise ValidationError(_("No merged pull request of this request has commands to run."))
    row.commands_done_at = timezone.now()
    row.commands_done_by = actor
    row.save(update_fields=["commands_done_at", "commands_done_by", "updated_at"])
    audit_record(
        actor=actor,
        action="pullrequest.commands_done",
        obj=access_request,
        after={"pull_request": row.number, "purpose": row.purpose, "commands": len(row.commands)},
    )
    return row


def request_progress(access_request: AccessRequest) -> dict[str, Any]:
    """What the request page shows about fulfilment, as plain values (JSON-safe)."""
    row = request_pull_requests(access_request)["grant"]
    steps: dict[str, str] = {
        Status.APPROVED: "queued",
        Status.PROVISIONING: "pushing" if row and row.head_sha else "generating",
        Status.PR_OPEN: "pull_request_open",
        Status.ACTIVE: "active",
        Status.FAILED: "failed",
    }
    return {
        "status": access_request.status,
        "status_label": access_request.get_status_display(),
        "step": steps.get(access_request.status, access_request.status),
        "pull_request": None
        if row is None
        else {
            "number": row.number,
            "url": row.url,
            "state": row.state,
            "branch": row.branch,
            "attempts": row.attempts,
            "commands_pending": row.commands_pending,
        },
        "last_error": row.last_error if row else "",
    }


# --- conflicts: regenerate on the new default-branch tip ---------------------------------------


def _regenerate_error(row: PullRequest, message: str, source: str) -> None:
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=row.access_request_id)
        # Each poll retries a conflicting pull request: the same failure is audited once.
        if (
            not PullRequest.objects.filter(pk=row.pk)
            .exclude(last_error=message)
            .update(last_error=message)
        ):
            return
        audit_record(
            actor=None,
            action="pullrequest.regenerate_fail",
            obj=access_request,
            after={"pull_request": row.number, "error": message, "source": source},
        )


def pull_request_regenerate(*, pr_id: int, source: str) -> PullRequest | None:
    """Rebuilds an open pull request that no longer merges on the current default branch.

    The change set (grant or revocation) is generated again on the new tip of the base and
    the portal's own branch is moved onto it (a force update of that one `vendor-access/`
    ref, never of the base), so the same pull request is reused and shows the new diff. A
    no-op when the branch already holds that change set on the current tip. Audited with
    the old and new head. Temporary errors propagate for the task to retry; others are
    recorded on the row (the pull request stays open for security to look at).
    """
    row = PullRequest.objects.filter(pk=pr_id, state=PullRequest.State.OPEN).first()
    if row is None or row.number is None:
        return None
    access_request = AccessRequest.objects.select_related("vendor").get(pk=row.access_request_id)
    revoke = row.purpose == PullRequest.Purpose.REVOKE
    expected = Status.REVOKED if revoke else Status.PR_OPEN
    if access_request.status != expected:
        return None
    try:
        forge = forge_for_settings()
        mirror = _mirror(forge)
        changeset = _generate(mirror, grant_for(access_request), row.base, revoke=revoke)
        if changeset.is_empty:
            raise FulfilmentError(
                _("The default branch already holds this change: nothing left to propose.")
            )
        body = request_body(access_request, changeset)
        head = push_change(row, mirror, changeset, body)
        # The body lists the files and the commands to run after merge: keep it true.
        forge.update_pull_request_body(row.number, body)
    except TEMPORARY_ERRORS as exc:
        pull_request_error_record(row, safe_message(exc))
        raise
    except PERMANENT_ERRORS as exc:
        _regenerate_error(row, safe_message(exc), source)
        return None
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
        locked = PullRequest.objects.select_for_update().get(pk=row.pk)
        previous = locked.head_sha
        locked.head_sha, locked.last_error = head, ""
        locked.save(update_fields=["head_sha", "last_error", "updated_at"])
        status_on_commit(locked)  # the new head carries no status yet (a no-op if unchanged)
        if head != previous:
            audit_record(
                actor=None,
                action="pullrequest.regenerate",
                obj=access_request,
                before={"head_sha": previous},
                after={
                    "pull_request": locked.number,
                    "branch": locked.branch,
                    "head_sha": head,
                    "source": source,
                },
            )
    return locked


def pull_request_regenerate_give_up(*, pr_id: int, message: str) -> None:
    """Temporary errors outlasted the retries: the row keeps the last one (still open)."""
    row = PullRequest.objects.filter(pk=pr_id).first()
    if row is not None:
        text = _("Gave up regenerating after repeated errors: %(e)s") % {"e": message}
        _regenerate_error(row, safe_message(text), "retry")


# --- the approval status on the pull request's head (SOC2.md section 3 rule 7) ---------------

STATUS_ERROR_PREFIX = "Setting the approval status failed: "


def status_on_commit(row: PullRequest) -> None:
    """Queues the approval status for `row`'s current head, after the caller's commit.

    Called wherever the portal opens its pull request or moves its branch (regeneration);
    nothing is queued when that head already carries the status. A task of its own rather
    than a step of provisioning: by then the pull request is open and correct, so a status
    that cannot be posted must neither fail the request nor send it through provisioning
    again. It is retried on its own and, if it keeps failing, recorded on the row for
    security. That fails closed: without the status, branch protection refuses the merge.
    """
    if row.head_sha and row.head_sha != row.status_sha:
        enqueue_on_commit("fulfilment.tasks.pull_request_status_task", row.pk)


def status_text(access_request: AccessRequest, purpose: str) -> str:
    """What the status says on the forge (plain English: it is read there, not here)."""
    if purpose == PullRequest.Purpose.REVOKE:
        return f"Revocation requested in the portal: request #{access_request.pk}"
    count = access_request.approvals.filter(decision=Approval.Decision.APPROVE).count()
    noun = "approval" if count == 1 else "approvals"
    return f"Approved in the portal: request #{access_request.pk}, {count} {noun}"


def pull_request_status_post(*, pr_id: int) -> bool:
    """Sets the portal's `success` status (FORGE_STATUS_CONTEXT) on the head of open pull
    request `pr_id`, linking to the request page; True when it was posted.

    A no-op when that head already has it, when the row is no longer open, or when the
    request is not (or no longer) where the pull request stands for it: a grant whose request
    was revoked meanwhile is being closed and must not be attested. Only the commit the portal
    pushed is attested; another head is recorded on the row as an error. Temporary errors are
    recorded on the row and propagate for the task to retry; permanent ones are recorded on
    the row (the pull request stays open, unmergeable under branch protection).
    """
    row = PullRequest.objects.filter(pk=pr_id, state=PullRequest.State.OPEN).first()
    if row is None or not row.head_sha or row.status_sha == row.head_sha:
        return False
    access_request = AccessRequest.objects.get(pk=row.access_request_id)
    expected = Status.REVOKED if row.purpose == PullRequest.Purpose.REVOKE else Status.PR_OPEN
    if access_request.status != expected:
        return False
    head = row.head_sha
    if head != row.pushed_sha:
        # The pull request was found open with a head the portal did not push (someone
        # pushed to its branch): attesting it would approve what nobody approved.
        pull_request_error_record(
            row,
            STATUS_ERROR_PREFIX
            + _("the branch's head %(head)s is not the portal's commit %(pushed)s.")
            % {"head": head[:12], "pushed": row.pushed_sha[:12] or "-"},
        )
        return False
    try:
        forge_for_settings().set_commit_status(
            head,
            state=CommitState.SUCCESS,
            context=settings.FORGE_STATUS_CONTEXT,
            description=status_text(access_request, row.purpose),
            target_url=request_url(access_request.pk),
        )
    except ForgeTemporaryError as exc:
        pull_request_error_record(row, STATUS_ERROR_PREFIX + safe_message(exc))
        raise
    except ForgeError as exc:
        message = STATUS_ERROR_PREFIX + safe_message(exc)
        logger.warning("Pull request row %s: %s", row.pk, message)
        pull_request_error_record(row, message)
        return False
    with transaction.atomic():
        access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
        # Compare-and-set on the head: a regeneration that moved the branch meanwhile has
        # queued the status of its own head, and this one must not be taken for it.
        done = (
            PullRequest.objects.filter(pk=row.pk, head_sha=head)
            .exclude(status_sha=head)
            .update(status_sha=head, updated_at=timezone.now())
        )
        PullRequest.objects.filter(pk=row.pk, last_error__startswith=STATUS_ERROR_PREFIX).update(
            last_error=""
        )
        if done:
            audit_record(
                actor=None,
                action="pullrequest.status",
                obj=access_request,
                after={
                    "pull_request": row.number,
                    "head_sha": head,
                    "context": settings.FORGE_STATUS_CONTEXT,
                    "state": str(CommitState.SUCCESS),
                },
            )
    return True


def pull_request_status_give_up(*, pr_id: int, message: str) -> None:
    """Temporary errors outlasted the retries: the row keeps the last one (still open; the
    next poll queues the status again)."""
    row = PullRequest.objects.filter(pk=pr_id).first()
    if row is not None:
        pull_request_error_record(row, STATUS_ERROR_PREFIX + gave_up_message(message))
