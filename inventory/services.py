"""The AWS account inventory: the sync service and the read-side queries.

`accounts_sync` pulls the organization's accounts (provisioning.aws), classifies them by their
Substrate tags (provisioning.inventory), cross-checks them against the Substrate repository's
naming files (provisioning.repo_files) and writes the result in one transaction with one audit
event. AWS is read before the transaction opens; a failure there marks the run failed and
changes no account.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.effects import enqueue_on_commit
from accessportal.lifecycle import transition
from accessportal.roles import require_verified_security
from audit.services import audit_record
from inventory.models import SYNC_RUN_LIFECYCLE, AccountSyncRun, AwsAccount, SyncStatus
from provisioning.aws import (
    LIST_ACCOUNTS_PAGE_SIZE,
    AwsError,
    OrganizationAccount,
    OrganizationInventory,
    organization_accounts,
)
from provisioning.inventory import Classification, RepoFiles, classify, cross_check
from provisioning.repo_files import read_substrate_files

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | AnonymousUser | None

# PostgreSQL advisory lock keys (any 64-bit numbers unique to this purpose).
_SYNC_LOCK_KEY = 0x5641_5053_796E_6301  # held for a whole sync: syncs run one at a time
_REQUEST_LOCK_KEY = 0x5641_5053_796E_6302  # held while deciding whether to queue a sync
# A run still "running" after this long was interrupted (worker killed, broker lost).
SYNC_STALE_AFTER = timedelta(minutes=30)
# Fields the sync owns on AwsAccount, compared to decide whether an account changed.
_SYNCED_FIELDS = (
    "name",
    "email",
    "account_type",
    "domain",
    "environment",
    "quality",
    "substrate_version",
    "tags",
    "status",
)
ALL = "*"
# The first accounts returned with a live count (for the request form).
COUNT_SAMPLE_SIZE = 20


# --- Locks ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _session_lock(key: int) -> Iterator[None]:
    """Holds a PostgreSQL advisory lock for the block; waits while another holder runs.

    Session-level on purpose: the sync reads AWS between its transactions and must still
    exclude a second sync. On SQLite (one machine, `make run`) writes are serialised by the
    database anyway, so it just proceeds.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _transaction_lock(key: int) -> None:
    """Takes a PostgreSQL advisory lock until the current transaction ends (no-op elsewhere)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


# --- Services ---------------------------------------------------------------------------------


def _user_pk(actor: Actor) -> Any:
    return actor.pk if actor is not None and actor.is_authenticated else None


def account_sync_active() -> AccountSyncRun | None:
    """The sync run that is queued or running now, if any (stale runs do not count)."""
    return (
        AccountSyncRun.objects.filter(
            status=AccountSyncRun.Status.RUNNING,
            started_at__gte=timezone.now() - SYNC_STALE_AFTER,
        )
        .order_by("-started_at")
        .first()
    )


def accounts_sync_request(*, actor: Actor, mfa_verified: bool) -> tuple[AccountSyncRun, bool]:
    """Queues a sync for `actor` ("Sync now"): returns (run, True), or (the run already
    queued or running, False) so that impatient clicks do not pile up syncs.

    The run row exists from now on, so the page shows it as queued; the task is sent when
    the transaction commits. Only an MFA-verified security member asks (the scheduled sync
    calls `accounts_sync` itself).
    """

    require_verified_security(
        actor or AnonymousUser(),
        mfa_verified=mfa_verified,
        refusal=_("Only the security team starts an account sync."),
    )

    with transaction.atomic():
        _transaction_lock(_REQUEST_LOCK_KEY)  # two clicks at once must not queue two runs
        active = account_sync_active()
        if active is not None:
            return active, False
        run = AccountSyncRun.objects.create(triggered_by_id=_user_pk(actor))
        enqueue_on_commit("inventory.tasks.accounts_sync_task", run.pk)
    return run, True


def accounts_sync(
    *,
    actor: Actor = None,
    run_id: int | None = None,
    page_size: int = LIST_ACCOUNTS_PAGE_SIZE,
) -> AccountSyncRun:
    """Syncs the inventory from AWS Organizations and returns the finished run.

    With `run_id`, finishes that queued run (a no-op returning it when it is no longer
    running: a duplicate task message); otherwise starts a new one. Accounts are upserted by
    id; accounts no longer listed are marked closed, suspended ones suspended; none is ever
    deleted. Syncs run one at a time (a second one waits for the first). An AWS failure marks
    the run failed, records the error and changes no account; an unexpected error does the
    same and is re-raised.
    """
    user = actor if _user_pk(actor) is not None else None
    if run_id is None:
        run = AccountSyncRun.objects.create(triggered_by_id=_user_pk(actor))
    else:
        run = AccountSyncRun.objects.get(pk=run_id)
        if run.status != AccountSyncRun.Status.RUNNING:
            return run
        if user is None and run.triggered_by_id is not None:
            user = run.triggered_by

    with _session_lock(_SYNC_LOCK_KEY):
        run.refresh_from_db()
        if run.status != AccountSyncRun.Status.RUNNING:  # finished while we waited
            return run
        _fail_stale_runs(exclude_pk=run.pk)
        try:
            inventory = organization_accounts(page_size=page_size)
        except AwsError as exc:
            logger.warning("account sync %s failed: %s", run.pk, exc)
            return _finish_failed(run.pk, user, str(exc))
        try:
            repo = read_substrate_files(
                settings.SUBSTRATE_REPO_URL, settings.SUBSTRATE_DEFAULT_BRANCH
            )
            return _apply(run.pk, user, inventory, repo)
        except Exception as exc:
            logger.exception("account sync %s failed", run.pk)
            _finish_failed(run.pk, user, f"unexpected error: {type(exc).__name__}: {exc}")
            raise


def _fail_stale_runs(*, exclude_pk: int) -> None:
    """Marks runs left "running" by a killed worker as failed, so the page stops waiting."""
    stale = AccountSyncRun.objects.filter(
        status=AccountSyncRun.Status.RUNNING,
        started_at__lt=timezone.now() - SYNC_STALE_AFTER,
    ).exclude(pk=exclude_pk)
    for pk in stale.values_list("pk", flat=True):
        _finish_failed(pk, None, "interrupted: the run did not finish (worker stopped?)")


def _finish_failed(run_pk: int, actor: Actor, message: str) -> AccountSyncRun:
    with transaction.atomic():
        run = AccountSyncRun.objects.select_for_update().get(pk=run_pk)
        if run.status != AccountSyncRun.Status.RUNNING:
            return run
        run.error = message
        run.finished_at = timezone.now()
        transition(
            run, SYNC_RUN_LIFECYCLE, to=SyncStatus.FAILED, extra_fields=("error", "finished_at")
        )
        audit_record(
            actor=actor,
            action="account.sync",
            obj=run,
            after={"status": run.status, "error": message},
        )
    return run


def _diff(row: AwsAccount, values: dict[str, Any]) -> dict[str, Any]:
    """What changes on `row`: {field: [before, after]}; for tags, only the keys that change."""
    changes: dict[str, Any] = {}
    for name, new in values.items():
        old = getattr(row, name)
        if old == new:
            continue
        if name == "tags":
            keys = sorted(set(old or {}) | set(new))
            changes[name] = {
                key: [(old or {}).get(key), new.get(key)]
                for key in keys
                if (old or {}).get(key) != new.get(key)
            }
        else:
            changes[name] = [old, new]
    return changes


def _apply(
    run_pk: int,
    actor: Actor,
    inventory: OrganizationInventory,
    repo: RepoFiles | None,
) -> AccountSyncRun:
    now = timezone.now()
    classified: list[tuple[OrganizationAccount, Classification]] = [
        (account, classify(account.tags)) for account in inventory.accounts
    ]
    mismatches = cross_check(
        ((account.id, c) for account, c in classified),
        repo,
        repo_location=settings.SUBSTRATE_REPO_URL,
    )
    listed = {account.id for account, _ in classified}
    suspended = set(inventory.suspended_ids) - listed

    with transaction.atomic():
        run = AccountSyncRun.objects.select_for_update().get(pk=run_pk)
        if run.status != AccountSyncRun.Status.RUNNING:
            return run
        existing = {
            row.account_id: row for row in AwsAccount.objects.select_for_update().order_by("pk")
        }
        to_create: list[AwsAccount] = []
        to_update: list[AwsAccount] = []
        added: list[str] = []
        changed: dict[str, Any] = {}
        closed_ids: list[str] = []
        suspended_ids: list[str] = []

        for account, c in classified:
            values: dict[str, Any] = {
                "name": account.name,
                "email": account.email,
                "account_type": c.account_type,
                "domain": c.domain,
                "environment": c.environment,
                "quality": c.quality,
                "substrate_version": c.substrate_version,
                "tags": dict(account.tags),
                "status": AwsAccount.Status.ACTIVE,
            }
            row = existing.get(account.id)
            if row is None:
                to_create.append(AwsAccount(account_id=account.id, last_seen_at=now, **values))
                added.append(account.id)
                continue
            diff = _diff(row, values)
            if diff:
                for name, value in values.items():
                    setattr(row, name, value)
                to_update.append(row)
                changed[account.id] = diff

        for account_id, row in existing.items():
            if account_id in listed:
                continue
            target = AwsAccount.Status.SUSPENDED if account_id in suspended else None
            target = target or AwsAccount.Status.CLOSED
            if row.status == target:
                continue
            changed_to = [row.status, target]
            row.status = target
            to_update.append(row)
            if target == AwsAccount.Status.SUSPENDED:
                suspended_ids.append(account_id)
            else:
                closed_ids.append(account_id)
            changed.setdefault(account_id, {})["status"] = changed_to

        AwsAccount.objects.bulk_create(to_create, batch_size=500)
        AwsAccount.objects.bulk_update(to_update, fields=list(_SYNCED_FIELDS), batch_size=500)
        # Suspended accounts are still in the organization: seen, though not usable.
        AwsAccount.objects.filter(account_id__in=listed | suspended).update(last_seen_at=now)

        run.finished_at = timezone.now()
        run.seen = len(classified)
        run.created = len(added)
        run.updated = len([i for i in changed if i in listed])
        run.closed = len(closed_ids) + len(suspended_ids)
        run.skipped_suspended = inventory.skipped_suspended
        run.mismatches = [m.as_dict() for m in mismatches]
        run.error = ""
        transition(
            run,
            SYNC_RUN_LIFECYCLE,
            to=SyncStatus.SUCCEEDED,
            extra_fields=(
                "finished_at",
                "seen",
                "created",
                "updated",
                "closed",
                "skipped_suspended",
                "mismatches",
                "error",
            ),
        )
        audit_record(
            actor=actor,
            action="account.sync",
            obj=run,
            after={
                "status": run.status,
                "seen": run.seen,
                "created": run.created,
                "updated": run.updated,
                "closed": run.closed,
                "skipped_suspended": run.skipped_suspended,
                "pages": inventory.pages,
                "organization_id": inventory.organization_id,
                "added": sorted(added),
                "closed_ids": sorted(closed_ids),
                "suspended_ids": sorted(suspended_ids),
                "changed": changed,
                "mismatches": len(mismatches),
            },
        )
    return run


# --- Selectors --------------------------------------------------------------------------------


def account_list(
    *,
    search: str = "",
    domain: str = "",
    environment: str = "",
    quality: str = "",
    account_type: str = "",
    status: str = "",
) -> QuerySet[AwsAccount]:
    """Accounts for the inventory page, filtered in the database."""
    accounts = AwsAccount.objects.all()
    if search:
        accounts = accounts.filter(
            Q(account_id__icontains=search)
            | Q(name__icontains=search)
            | Q(email__icontains=search)
            | Q(domain__icontains=search)
            | Q(environment__icontains=search)
            | Q(quality__icontains=search)
        )
    if domain:
        accounts = accounts.filter(domain=domain)
    if environment:
        accounts = accounts.filter(environment=environment)
    if quality:
        accounts = accounts.filter(quality=quality)
    if account_type:
        accounts = accounts.filter(account_type=account_type)
    if status:
        accounts = accounts.filter(status=status)
    return accounts.order_by("domain", "environment", "quality", "account_id")


def account_filter_values() -> dict[str, list[str]]:
    """The domains, environments and qualities present in the inventory (one query)."""
    domains: set[str] = set()
    environments: set[str] = set()
    qualities: set[str] = set()
    rows = AwsAccount.objects.order_by().values_list("domain", "environment", "quality")
    for domain, environment, quality in rows.distinct():
        domains.add(domain)
        environments.add(environment)
        qualities.add(quality)
    return {
        "domains": sorted(d for d in domains if d),
        "environments": sorted(e for e in environments if e),
        "qualities": sorted(q for q in qualities if q),
    }


def account_sync_runs_recent(*, limit: int = 2) -> list[AccountSyncRun]:
    """The latest runs, newest first (the page shows the latest and the one before it)."""
    return list(AccountSyncRun.objects.select_related("triggered_by").order_by("-pk")[:limit])


def account_sync_status(run: AccountSyncRun | None) -> dict[str, Any]:
    """A JSON-ready summary of `run`, for the page's progress poll."""
    if run is None:
        return {"id": None, "status": None}
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seen": run.seen,
        "created": run.created,
        "updated": run.updated,
        "closed": run.closed,
        "skipped_suspended": run.skipped_suspended,
        "mismatches": len(run.mismatches or []),
        "error": run.error,
    }


def _selection(values: Iterable[str] | None) -> list[str] | None:
    """The names selected, or None for "all" (no value, an empty list, "*" or "all")."""
    names = [v.strip() for v in (values or []) if v and v.strip()]
    if not names or any(v in (ALL, "all") for v in names):
        return None
    return names


def accounts_matching(
    *,
    domains: Sequence[str] | None,
    environments: Sequence[str] | None,
    qualities: Sequence[str] | None,
    include_special: bool = False,
) -> QuerySet[AwsAccount]:
    """The active accounts a domain / environment / quality selection reaches.

    Each selection is a list of names; an empty list or ["*"] means all. Only service
    accounts with a Domain tag are selected, as Substrate's role selection does; with
    `include_special`, the active special accounts (management, audit, deploy, network,
    Substrate) are added whatever the selection, as strategies that reach every account need.
    """
    selected = Q(account_type=AwsAccount.Type.SERVICE) & ~Q(domain="")
    for field, values in (
        ("domain", domains),
        ("environment", environments),
        ("quality", qualities),
    ):
        names = _selection(values)
        if names is not None:
            selected &= Q(**{f"{field}__in": names})
    if include_special:
        selected |= ~Q(account_type=AwsAccount.Type.SERVICE)
    return (
        AwsAccount.objects.filter(status=AwsAccount.Status.ACTIVE)
        .filter(selected)
        .order_by("domain", "environment", "quality", "account_id")
    )
