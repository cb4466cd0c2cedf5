"""Pull requests the portal opened on a forge for an access request's change set.

One row per pull request (issue 7). A row is created *pending* before the branch is pushed,
so a failed attempt has somewhere to keep its error and attempt count; it becomes *open* once
the forge answers with a number. The database allows one pending-or-open row per forge and
branch: a retried or duplicated task finds and reuses it instead of opening a second one.

`PullRequestModelStore` is the local forge's `PullRequestStore` on top of this model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Max, Q
from django.utils.translation import gettext_lazy as _

from accessportal.lifecycle import (
    ANY,
    Announce,
    Effect,
    Enqueue,
    Lifecycle,
    choice_labels,
    transition,
)
from provisioning.forges import (
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestRecord,
    PullRequestState,
)

logger = logging.getLogger(__name__)
LOCAL = "local"
# The database's `PullRequest.merged_unapproved_head` of a merged row (for queries).
UNAPPROVED_HEAD = Q(number__isnull=False) & (
    Q(approved_sha="") | ~Q(merged_head_sha=F("approved_sha"))
)


class PullRequest(models.Model):
    """A pull request (or the attempt to open one) proposing an access request's change set."""

    # Its audit events were first written under this label (audit.services.audit_object_type).
    audit_type = "approvals.pullrequest"

    class State(models.TextChoices):
        PENDING = "pending", _("Being prepared")
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        CLOSED = "closed", _("Closed without merging")
        # A revocation that cannot go on (the request itself is already revoked): the row
        # keeps the reason and security retries it from the request page.
        FAILED = "failed", _("Failed")

    class Purpose(models.TextChoices):
        GRANT = "grant", _("Grant")
        REVOKE = "revoke", _("Revocation")

    class Forge(models.TextChoices):
        LOCAL = "local", _("Local")
        GITHUB = "github", _("GitHub")
        GITLAB = "gitlab", _("GitLab")

    access_request = models.ForeignKey(
        "approvals.AccessRequest", on_delete=models.PROTECT, related_name="pull_requests"
    )
    forge = models.CharField(max_length=16, choices=Forge.choices)
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.GRANT)
    # Null while pending: the forge assigns the number when the pull request is opened.
    number = models.PositiveIntegerField(null=True, blank=True)
    url = models.CharField(max_length=500, blank=True)
    branch = models.CharField(max_length=200)
    base = models.CharField(max_length=200)
    head_sha = models.CharField(max_length=64, blank=True)
    # The commit the portal itself last pushed to the branch: the only head it attests. A
    # pull request found open again (a retried task) reports the branch's current head,
    # which may be someone else's push; that one gets no approval status.
    pushed_sha = models.CharField(max_length=64, blank=True)
    # The commit the approval covers: the change set the portal generated from the approved
    # request (or revocation) and pushed, set with `pushed_sha` and never by the forge. Only
    # this commit may be merged: the local forge merges it and nothing else, and a merge the
    # forge reports with another head does not activate the request (MERGE_MISMATCH).
    approved_sha = models.CharField(max_length=64, blank=True)
    # The head the forge reported when the pull request was merged (the local forge: the
    # approved commit it merged); compared with `approved_sha`.
    merged_head_sha = models.CharField(max_length=64, blank=True)
    # Security looked at a merge of an unapproved head (`merged_unapproved_head`) and said so;
    # until then it is on the dashboard (fulfilment.merge_review.request_merge_acknowledge).
    head_reviewed_at = models.DateTimeField(null=True, blank=True)
    head_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # The head the portal's approval status was last set on; differs from `head_sha` until
    # the status task has posted it for the current head (each open and regeneration).
    status_sha = models.CharField(max_length=64, blank=True)
    merge_sha = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    title = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The change set's post-merge commands ({"shell", "why"} each, in order), stored when the
    # branch is pushed so the request page shows exactly what the pull request proposed.
    commands = models.JSONField(default=list, blank=True)
    # How the repository expressed the change ("terraform" or "role-create",
    # provisioning.substrate.Dialect), stored with the commands: verification reads AWS for
    # what that dialect puts there (role create writes its own SubstrateManaged policy).
    dialect = models.CharField(max_length=16, blank=True)
    commands_done_at = models.DateTimeField(null=True, blank=True)
    commands_done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Moved from the approvals app: the table keeps its name (and its data).
        db_table = "approvals_pullrequest"
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["forge", "branch"],
                # ACTIVE_ROWS (spelt out: the migration holds the same list).
                condition=Q(state__in=["pending", "open"]),
                name="approvals_pullrequest_one_open_per_branch",
            ),
            models.UniqueConstraint(
                fields=["forge", "number"], name="approvals_pullrequest_unique_number"
            ),
        ]

    def __str__(self) -> str:
        number = f"#{self.number}" if self.number else "(pending)"
        return f"{self.get_forge_display()} pull request {number} from {self.branch}"

    @property
    def awaits_head_review(self) -> bool:
        """Merged with an unapproved head, and nobody in security has reviewed it yet."""
        return self.merged_unapproved_head and self.head_reviewed_at is None

    @property
    def merged_unapproved_head(self) -> bool:
        """Merged on the forge with a head other than the approved commit (or with no approved
        commit). A row without a number was never on a forge (nothing to propose)."""
        return (
            self.state == self.State.MERGED
            and self.number is not None
            and (not self.approved_sha or self.merged_head_sha != self.approved_sha)
        )

    @property
    def commands_pending(self) -> bool:
        """Merged, with commands that nobody has marked as run yet."""
        return (
            self.state == self.State.MERGED
            and bool(self.commands)
            and self.commands_done_at is None
        )

    def as_record(self) -> PullRequestRecord:
        """The row as the local forge sees it."""
        return PullRequestRecord(
            number=self.number or 0,
            branch=self.branch,
            base=self.base,
            title=self.title,
            body=self.body,
            state=PullRequestState(self.state),
            head_sha=self.head_sha,
            merge_sha=self.merge_sha,
        )


State = PullRequest.State
# The moves the portal accepts. Most states are copied from the forge (GitHub, GitLab, or the
# local forge's own store below): `fulfilment.sync` applies merged and closed, and opening
# records the forge's answer. A state the forge reports that this table refuses is logged and
# written anyway (`forge_state_copy`): the forge is where the pull request lives.
PR_TRANSITIONS: dict[str, frozenset[str]] = {
    # Opened on the forge; or a revocation with nothing to remove (merged without a number),
    # or one that cannot go on (failed).
    State.PENDING: frozenset({State.OPEN, State.MERGED, State.FAILED}),
    # Merged or closed on the forge (closed by the portal too, when its request is revoked);
    # a revocation that failed while its pull request was open.
    State.OPEN: frozenset({State.MERGED, State.CLOSED, State.FAILED}),
    # Final: a retried revocation opens a new row.
    State.MERGED: frozenset(),
    State.CLOSED: frozenset(),
    State.FAILED: frozenset(),
}
# The rows a task works on: at most one per forge and branch (the database's constraint).
ACTIVE_ROWS = (State.PENDING, State.OPEN)
# A revocation that has ended without removing the access: security may retry it.
ENDED_REVOCATION = frozenset({State.FAILED, State.CLOSED})
# Only `transition` runs these. A revocation's pull request closed without merging is also
# news to security, but a grant's is not (its request fails instead): `fulfilment.sync`
# announces that one itself.
PR_EFFECTS: dict[tuple[str, str], tuple[Effect, ...]] = {
    # Only a revocation row fails (a grant's failure is its request's).
    (ANY, State.FAILED): (
        Announce("revoke_failed", request_id="access_request_id", by_actor=False),
    ),
    # A merge says what the repository holds; what AWS holds is read now (and again once the
    # commands are run, and on the beat's schedule): verification/grants.py.
    (ANY, State.MERGED): (
        Enqueue(
            "verification.tasks.grant_verify_task",
            kwargs={"trigger": "merge"},
            object_id="access_request_id",
        ),
    ),
}
PR_LIFECYCLE = Lifecycle(
    field="state",
    table=PR_TRANSITIONS,
    effects=PR_EFFECTS,
    groups={"active": frozenset(ACTIVE_ROWS), "ended_revocation": ENDED_REVOCATION},
    labels=choice_labels(State.choices),
    subject=_("A pull request"),
)


def forge_state_copy(row: PullRequest, state: str, *, extra_fields: Iterable[str]) -> None:
    """Saves the locked `row` with the state the forge reports and `extra_fields` (already
    set). A move the table allows goes through `transition`; the same state only saves the
    other fields. A move the table refuses (a stale answer about a row merged meanwhile) is
    logged and written as before: the forge's word is the record, and refusing it here would
    leave the row disagreeing with the forge."""
    state = str(state)
    fields = list(extra_fields)
    if row.state == state:
        row.save(update_fields=[*fields, "updated_at"])
    elif PR_LIFECYCLE.allows(row.state, state):
        transition(row, PR_LIFECYCLE, to=state, extra_fields=fields)
    else:
        logger.warning(
            "Pull request row #%s is %s; the forge reports %s: recorded as the forge says.",
            row.pk,
            row.state,
            state,
        )
        row.state = state
        row.save(update_fields=["state", *fields, "updated_at"])


class PullRequestModelStore:
    """The local forge's `PullRequestStore`: rows of `PullRequest` with forge "local".

    `create` fills the pending row the fulfilment service made for the branch (that row
    carries the access request); numbers are allocated as the highest local number plus one,
    and a concurrent allocation is reported as a temporary error, so the task retries.
    """

    def _rows(self) -> Any:
        return PullRequest.objects.filter(forge=LOCAL)

    def find_open(self, branch: str) -> PullRequestRecord | None:
        row = self._rows().filter(branch=branch, state=PullRequest.State.OPEN).first()
        return None if row is None else row.as_record()

    def create(
        self, *, branch: str, base: str, title: str, body: str, head_sha: str
    ) -> PullRequestRecord:
        try:
            with transaction.atomic():
                row = (
                    self._rows()
                    .select_for_update()
                    .filter(branch=branch, state=PullRequest.State.PENDING)
                    .first()
                )
                if row is None:
                    raise ForgePermanentError(f"No pending pull request record for {branch}.")
                highest = self._rows().aggregate(n=Max("number"))["n"] or 0
                row.number = highest + 1
                row.base, row.title, row.body, row.head_sha = base, title, body, head_sha
                transition(
                    row,
                    PR_LIFECYCLE,
                    to=PullRequest.State.OPEN,
                    extra_fields=["number", "base", "title", "body", "head_sha"],
                )
        except IntegrityError:
            raise ForgeTemporaryError("Another pull request took that number; retry.") from None
        return row.as_record()

    def get(self, number: int) -> PullRequestRecord:
        row = self._rows().filter(number=number).first()
        if row is None:
            raise KeyError(number)
        return row.as_record()

    def update(self, record: PullRequestRecord) -> None:
        # The local forge's own write (close, merge, a new body) is the forge's word, recorded
        # as any forge's answer is: through the table, a refused move logged.
        with transaction.atomic():
            row = self._rows().select_for_update().filter(number=record.number).first()
            if row is None:
                return
            row.body, row.head_sha, row.merge_sha = record.body, record.head_sha, record.merge_sha
            forge_state_copy(row, record.state, extra_fields=["body", "head_sha", "merge_sha"])
