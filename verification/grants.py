"""Each grant read back from AWS and held against its approval (issue 17).

A request whose grant pull request merged is expected in AWS (`present`); one revoked after
such a merge is expected gone (`absent`). `verify_grants` builds what each grant should have
put in IAM (provisioning.substrate.expected, the generator's own helpers), reads every account
involved once through its audit role (provisioning.aws.read_accounts, several accounts at
once, throttling retried by boto3 and reported per account when it persists), compares
(provisioning.substrate.verify) and stores the verdict on the request's `GrantCheck`. A change
of verdict is an audit event, so the auditor report can say what AWS held at any past time; a
grant that drifts, or that AWS still holds after its removal merged, is announced to security.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.effects import enqueue_on_commit, notify_on_commit
from accessportal.lifecycle import transition
from accessportal.roles import require_verified_security
from approvals.models import AccessRequest, Status
from approvals.requests import grant_for
from audit.services import audit_record
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from keys.models import KEY_LIFECYCLE, AccessKey
from provisioning import aws
from provisioning.keys import mask_access_key_id
from provisioning.substrate.expected import (
    ExpectedRole,
    ExpectedState,
    ExpectedUser,
    expected_state,
)
from provisioning.substrate.model import AccountType, Dialect, TargetAccount
from provisioning.substrate.observed import AccountUnreadable, ObservedRole, ObservedUser
from provisioning.substrate.verify import AccountVerdict, State, Verdict, compare

from .models import RUN_LIFECYCLE, GrantCheck, RunStatus, VerificationRun

logger = logging.getLogger(__name__)

Expectation = GrantCheck.Expectation
CheckState = GrantCheck.State
Observed = ObservedRole | ObservedUser | AccountUnreadable

# Merged grants: these statuses mean the grant pull request merged (an EXPIRING grant is
# still live; a merge nobody approved is in AWS all the same once applied).
MERGED_STATES = (Status.ACTIVE, Status.EXPIRING, Status.MERGE_MISMATCH)
# How often a running pass writes its progress (the page polls it).
PROGRESS_EVERY_SECONDS = 0.5
VERIFY_RUN_TASK = "verification.tasks.grants_verify_run_task"


@dataclass(frozen=True)
class Plan:
    """One request's part of a pass: what AWS should hold, or why that cannot be said."""

    access_request: AccessRequest
    expectation: str
    expected: ExpectedState | None
    error: str = ""


def verifiable_requests() -> QuerySet[AccessRequest]:
    """Requests whose grant merged: live ones, and revoked ones (their removal is checked)."""
    merged = PullRequest.objects.filter(
        purpose=PullRequest.Purpose.GRANT, state=PullRequest.State.MERGED
    ).values("access_request_id")
    return (
        AccessRequest.objects.filter(pk__in=merged)
        .filter(status__in=[*MERGED_STATES, Status.REVOKED])
        .select_related("vendor")
        .prefetch_related("target_accounts")
        .order_by("pk")
    )


def expectation_of(access_request: AccessRequest) -> str:
    return Expectation.ABSENT if access_request.status == Status.REVOKED else Expectation.PRESENT


def _dialect(row: PullRequest | None) -> Dialect:
    """The dialect the merged change used; rows from before it was stored say it through
    their commands (only the role-create dialect runs `substrate role create`)."""
    if row is not None and row.dialect:
        return Dialect(row.dialect)
    commands = row.commands if row is not None else []
    if any("substrate role create" in str(c.get("shell", "")) for c in commands):
        return Dialect.ROLE_CREATE
    return Dialect.TERRAFORM


class Organization:
    """The inventory's facts expected_state needs, read once per pass."""

    def __init__(self) -> None:
        rows = list(
            AwsAccount.objects.exclude(status=AwsAccount.Status.CLOSED).values(
                "account_id", "account_type", "domain", "environment", "quality"
            )
        )
        self.by_type = {r["account_id"]: AccountType(r["account_type"]) for r in rows}
        substrate = sorted(
            r["account_id"] for r in rows if r["account_type"] == AwsAccount.Type.SUBSTRATE
        )
        self.substrate_account_id = substrate[0] if substrate else ""
        self.service_accounts = tuple(
            TargetAccount(
                id=r["account_id"],
                domain=r["domain"],
                environment=r["environment"],
                quality=r["quality"],
            )
            for r in rows
            if r["account_type"] == AwsAccount.Type.SERVICE
        )


def _latest_merged_grant_rows(request_ids: list[int]) -> dict[int, PullRequest]:
    """Each request's latest merged grant pull request (its dialect), in one query."""
    rows = PullRequest.objects.filter(
        access_request_id__in=request_ids,
        purpose=PullRequest.Purpose.GRANT,
        state=PullRequest.State.MERGED,
    ).order_by("access_request_id", "-created_at")
    latest: dict[int, PullRequest] = {}
    for row in rows:
        latest.setdefault(row.access_request_id, row)
    return latest


def plans_for(requests: Iterable[AccessRequest], org: Organization) -> list[Plan]:
    """What AWS should hold for each request (a pass over a thousand grants reads their
    pull requests at once, and their accounts with them when the queryset prefetched them)."""
    requests = list(requests)
    rows = _latest_merged_grant_rows([r.pk for r in requests])
    return [_plan(r, org, rows.get(r.pk)) for r in requests]


def _plan(access_request: AccessRequest, org: Organization, row: PullRequest | None) -> Plan:
    expectation = expectation_of(access_request)
    try:
        expected = expected_state(
            grant_for(access_request),
            dialect=_dialect(row),
            substrate_account_id=org.substrate_account_id,
            accounts_by_type=org.by_type,
            domain_accounts=org.service_accounts,
        )
    except ValueError as exc:  # GrantError included: e.g. no Substrate account in the inventory
        return Plan(access_request, expectation, None, f"cannot say what AWS should hold: {exc}")
    if not expected.accounts():
        return Plan(access_request, expectation, None, "the grant names no account to read")
    return Plan(access_request, expectation, expected)


def expected_for(access_request: AccessRequest) -> ExpectedState:
    """What the request's grant puts in AWS (ValueError when that cannot be said)."""
    [plan] = plans_for([access_request], Organization())
    if plan.expected is None:
        raise ValueError(plan.error)
    return plan.expected


class RunProgress:
    """Writes a run's accounts_done now and then (not on every account of a thousand)."""

    def __init__(self, run: VerificationRun | None) -> None:
        self.run = run
        self.written = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.run is None:
            return
        now = time.monotonic()
        if done < total and now - self.written < PROGRESS_EVERY_SECONDS:
            return
        self.written = now
        VerificationRun.objects.filter(pk=self.run.pk).update(
            accounts_done=done, accounts_total=total
        )


def read_expected(
    plans: Sequence[Plan], *, progress: Callable[[int, int], None] | None = None
) -> list[Observed]:
    """Reads every account the plans name once (the union of their roles), then each user."""
    roles: dict[str, set[str]] = {}
    users: set[tuple[str, str]] = set()
    for plan in plans:
        if plan.expected is None:
            continue
        for account_id, name in plan.expected.roles_to_read():
            roles.setdefault(account_id, set()).add(name)
        users.update(plan.expected.users_to_read())
    by_account = aws.read_accounts(
        {account: sorted(names) for account, names in sorted(roles.items())},
        progress=progress,
    )
    observed: list[Observed] = [seen for found in by_account.values() for seen in found]
    observed += [aws.read_user(account_id, name) for account_id, name in sorted(users)]
    return observed


def _portal_key_ids(access_request: AccessRequest) -> set[str]:
    return set(
        AccessKey.objects.filter(
            access_request=access_request, status__in=KEY_LIFECYCLE.groups["in_aws"]
        )
        .exclude(access_key_id="")
        .values_list("access_key_id", flat=True)
    )


def _with_unknown_keys(
    plan: Plan, expected: ExpectedState, verdict: Verdict, observed: Iterable[Observed]
) -> Verdict:
    """An IAM user's keys that the portal did not issue are a difference: a key made by hand
    outside the one-time delivery."""
    expected_users = {(i.account_id, i.name) for i in expected.items if isinstance(i, ExpectedUser)}
    if not expected_users or plan.expectation != Expectation.PRESENT:
        return verdict
    known = _portal_key_ids(plan.access_request)
    extra: dict[str, list[str]] = {}
    for seen in observed:
        if isinstance(seen, ObservedUser) and (seen.account_id, seen.name) in expected_users:
            for key_id in sorted(seen.access_key_ids - known):
                extra.setdefault(seen.account_id, []).append(
                    f"user {seen.name}: access key {mask_access_key_id(key_id)} was not "
                    "issued by the portal"
                )
    if not extra:
        return verdict
    accounts = []
    for a in verdict.accounts:
        if a.account_id in extra and a.state in (State.MATCHES, State.DIFFERS):
            a = AccountVerdict(
                a.account_id, State.DIFFERS, tuple(sorted({*a.differences, *extra[a.account_id]}))
            )
        accounts.append(a)
    return Verdict(tuple(accounts))


def _last_used(
    expected: ExpectedState, observed: Iterable[Observed]
) -> dict[str, tuple[datetime, str]]:
    """RoleLastUsed of the grant's own roles, per account (Substrate's shared roles are used
    by everyone, so their last use says nothing of the vendor's)."""
    own = {
        (i.account_id, i.name)
        for i in expected.items
        if isinstance(i, ExpectedRole) and not i.shared
    }
    used: dict[str, tuple[datetime, str]] = {}
    for seen in observed:
        if (
            isinstance(seen, ObservedRole)
            and (seen.account_id, seen.name) in own
            and seen.last_used_at is not None
        ):
            current = used.get(seen.account_id)
            if current is None or seen.last_used_at > current[0]:
                used[seen.account_id] = (seen.last_used_at, seen.last_used_region)
    return used


def _accounts_json(verdict: Verdict, used: dict[str, tuple[datetime, str]]) -> list[dict[str, Any]]:
    return [
        {
            "account_id": a.account_id,
            "state": str(a.state),
            "differences": list(a.differences),
            "reason": a.reason,
            "message": a.message,
            "last_used_at": used[a.account_id][0].isoformat() if a.account_id in used else None,
            "last_used_region": used[a.account_id][1] if a.account_id in used else "",
        }
        for a in verdict.accounts
    ]


def _summary(state: str, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    """What the audit event keeps: the verdict and the accounts that are not as expected."""
    return {
        "state": state,
        "accounts": len(accounts),
        "not_matching": [
            {k: a[k] for k in ("account_id", "state", "differences", "reason")}
            for a in accounts
            if a["state"] != State.MATCHES
        ][:50],
    }


# Verdicts announced, by expectation: a grant verified live (to its requester), drift of a
# live grant, and a removal that merged while AWS still holds the grant (to security).
_ANNOUNCED: dict[tuple[str, str], str] = {
    (Expectation.PRESENT, CheckState.MATCHES): "verified",
    (Expectation.PRESENT, CheckState.DIFFERS): "drifted",
    (Expectation.ABSENT, CheckState.MATCHES): "still_in_aws",
    (Expectation.ABSENT, CheckState.DIFFERS): "still_in_aws",
}


def _removal_merged(access_request: AccessRequest) -> bool:
    return PullRequest.objects.filter(
        access_request=access_request,
        purpose=PullRequest.Purpose.REVOKE,
        state=PullRequest.State.MERGED,
    ).exists()


def record_check(
    plan: Plan,
    *,
    state: str,
    accounts: list[dict[str, Any]],
    message: str = "",
    run: VerificationRun | None = None,
    now: datetime | None = None,
) -> GrantCheck:
    """Stores one request's verdict; a changed verdict is audited and may be announced."""
    now = now or timezone.now()
    used = [a["last_used_at"] for a in accounts if a.get("last_used_at")]
    last_used = max(datetime.fromisoformat(u) for u in used) if used else None
    with transaction.atomic():
        check = (
            GrantCheck.objects.select_for_update()
            .filter(access_request_id=plan.access_request.pk)
            .first()
        )
        before = None if check is None else {"state": check.state, "expectation": check.expectation}
        changed = before != {"state": state, "expectation": plan.expectation}
        if check is None:
            check = GrantCheck(access_request_id=plan.access_request.pk, changed_at=now)
        elif changed:
            check.changed_at = now
        check.expectation = plan.expectation
        check.state = state
        check.accounts = accounts
        check.message = message
        check.checked_at = now
        check.run = run
        if last_used is not None and (check.last_used_at is None or last_used > check.last_used_at):
            check.last_used_at = last_used
        if (
            check.last_used_at is not None
            and check.idle_flagged_at is not None
            and check.last_used_at > check.idle_flagged_at
        ):
            check.idle_flagged_at = None  # used again: a later idle spell is flagged anew
        check.save()
        if changed:
            audit_record(
                actor=None,
                action="grant.verified",
                obj=plan.access_request,
                before=before,
                after={"expectation": plan.expectation, **_summary(state, accounts)},
            )
            event = _ANNOUNCED.get((plan.expectation, state))
            if event == "still_in_aws" and not _removal_merged(plan.access_request):
                event = None  # the removal is still a pull request: AWS holding it is expected
            if event is not None:
                notify_on_commit(access_request_id=plan.access_request.pk, event=event)
    return check


def _verdict_of(
    plan: Plan, expected: ExpectedState, observed: list[Observed]
) -> tuple[str, list[dict[str, Any]]]:
    verdict = _with_unknown_keys(plan, expected, compare(expected, observed), observed)
    return str(verdict.state), _accounts_json(verdict, _last_used(expected, observed))


def verify_grants(
    requests: Iterable[AccessRequest] | None = None,
    *,
    run: VerificationRun | None = None,
) -> list[GrantCheck]:
    """Verifies `requests` (every verifiable one by default) in one pass over their accounts
    and returns their checks. With `run`, its progress is written as accounts are read and it
    is finished with the counts per verdict (failed, with the error, if the pass raised)."""
    try:
        org = Organization()
        plans = plans_for(verifiable_requests() if requests is None else requests, org)
        if run is not None:
            to_read = {a for p in plans if p.expected for a in p.expected.accounts()}
            VerificationRun.objects.filter(pk=run.pk).update(accounts_total=len(to_read))
        observed = read_expected(plans, progress=RunProgress(run))
        checks = []
        now = timezone.now()
        for plan in plans:
            if plan.expected is None:
                checks.append(
                    record_check(
                        plan,
                        state=CheckState.ERROR,
                        accounts=[],
                        message=plan.error,
                        run=run,
                        now=now,
                    )
                )
                continue
            state, accounts = _verdict_of(plan, plan.expected, observed)
            checks.append(record_check(plan, state=state, accounts=accounts, run=run, now=now))
    except Exception as exc:
        if run is not None:
            finish_run(run.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    if run is not None:
        outcome: dict[str, int] = {}
        for check in checks:
            outcome[check.state] = outcome.get(check.state, 0) + 1
        finish_run(run.pk, outcome=outcome)
    return checks


def finish_run(run_pk: int, *, outcome: dict[str, Any] | None = None, error: str = "") -> None:
    with transaction.atomic():
        run = VerificationRun.objects.select_for_update().get(pk=run_pk)
        if run.status != RunStatus.RUNNING:
            return
        run.finished_at = timezone.now()
        run.outcome = outcome or {}
        run.error = error
        if not error:
            run.accounts_done = run.accounts_total
        transition(
            run,
            RUN_LIFECYCLE,
            to=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
            extra_fields=("finished_at", "outcome", "error", "accounts_done"),
        )


def stale_runs_fail(kind: str, *, older_than: timedelta = timedelta(hours=1)) -> int:
    """Runs a killed worker left running: failed, so their pages stop waiting."""
    stale = VerificationRun.objects.filter(
        kind=kind, status=RunStatus.RUNNING, started_at__lt=timezone.now() - older_than
    )
    count = 0
    for pk in stale.values_list("pk", flat=True):
        finish_run(pk, error="interrupted: the run did not finish (worker stopped?)")
        count += 1
    return count


def queue_run(
    *,
    actor: Any,
    mfa_verified: bool,
    kind: str,
    task: str,
    action: str,
    refusal: str,
    access_request: AccessRequest | None = None,
) -> tuple[VerificationRun, bool]:
    """Queues an on-demand run of `kind` (the task `task` carries it out): returns (run, True),
    or the run already queued or running for the same scope and False, so that impatient
    clicks do not pile up reads of a thousand accounts. Security only, with a second factor;
    audited as `action`."""
    require_verified_security(actor, mfa_verified=mfa_verified, refusal=refusal)
    stale_runs_fail(kind)
    with transaction.atomic():
        scope = VerificationRun.objects.select_for_update().filter(
            kind=kind, status=RunStatus.RUNNING, access_request=access_request
        )
        active = scope.order_by("-started_at").first()
        if active is not None:
            return active, False
        run = VerificationRun.objects.create(
            kind=kind, access_request=access_request, triggered_by=actor, trigger="on_demand"
        )
        audit_record(
            actor=actor,
            action=action,
            obj=access_request or run,
            after={"run": run.pk, "request": access_request.pk if access_request else None},
        )
        enqueue_on_commit(task, run.pk)
    return run, True


def grants_verify_request(
    *, actor: Any, mfa_verified: bool, access_request: AccessRequest | None = None
) -> tuple[VerificationRun, bool]:
    """Queues "Verify in AWS now" for one request (or every grant), as `queue_run` says."""
    return queue_run(
        actor=actor,
        mfa_verified=mfa_verified,
        kind=VerificationRun.Kind.GRANTS,
        task=VERIFY_RUN_TASK,
        action="grant.verify_requested",
        refusal=_("Only the security team asks AWS to be read now."),
        access_request=access_request,
    )


def grants_verify_run(run_id: int) -> VerificationRun:
    """Carries out a queued run (a no-op for one already finished: a duplicate message)."""
    run = VerificationRun.objects.select_related("access_request").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return run
    scope = None if run.access_request is None else [run.access_request]
    if scope is not None and scope[0].pk not in set(
        verifiable_requests().filter(pk=scope[0].pk).values_list("pk", flat=True)
    ):
        finish_run(run.pk, error="nothing to verify: the grant has not merged")
        run.refresh_from_db()
        return run
    verify_grants(scope, run=run)
    if scope is None:
        grants_idle_flag()
    run.refresh_from_db()
    return run


def grants_verify_after(access_request_id: int, *, trigger: str) -> VerificationRun | None:
    """One request verified now, after its merge, its commands being run or its removal
    merging (the tasks the lifecycle and fulfilment queue). None when there is nothing to
    read yet (the grant never merged)."""
    access_request = verifiable_requests().filter(pk=access_request_id).first()
    if access_request is None:
        return None
    run = VerificationRun.objects.create(
        kind=VerificationRun.Kind.GRANTS, access_request=access_request, trigger=trigger
    )
    verify_grants([access_request], run=run)
    run.refresh_from_db()
    return run


def grants_verify_scheduled() -> VerificationRun:
    """The beat's pass over every merged grant, then the idle flag."""
    stale_runs_fail(VerificationRun.Kind.GRANTS)
    run = VerificationRun.objects.create(kind=VerificationRun.Kind.GRANTS, trigger="beat")
    return grants_verify_run(run.pk)


def grants_idle_flag(*, now: datetime | None = None) -> list[GrantCheck]:
    """Live grants verified in AWS whose roles nobody used for PORTAL_GRANT_IDLE_DAYS (since
    their last use, or since they were first verified): flagged once, audited, announced to
    security, like an unused access key."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.PORTAL_GRANT_IDLE_DAYS)
    candidates = GrantCheck.objects.filter(
        expectation=Expectation.PRESENT,
        state=CheckState.MATCHES,
        idle_flagged_at__isnull=True,
        access_request__status__in=MERGED_STATES,
        changed_at__lt=cutoff,
    ).exclude(last_used_at__gte=cutoff)
    flagged = []
    for pk in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            check = GrantCheck.objects.select_for_update().get(pk=pk)
            if check.idle_flagged_at is not None:
                continue
            check.idle_flagged_at = now
            check.save(update_fields=["idle_flagged_at"])
            audit_record(
                actor=None,
                action="grant.idle",
                obj=check.access_request,
                after={
                    "last_used_at": check.last_used_at.isoformat() if check.last_used_at else None,
                    "idle_days": settings.PORTAL_GRANT_IDLE_DAYS,
                },
            )
            notify_on_commit(access_request_id=check.access_request_id, event="grant_idle")
            flagged.append(check)
    return flagged
