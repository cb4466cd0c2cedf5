"""Pull requests the portal opened on a forge for an access request's change set.

One row per pull request (issue 7). A row is created *pending* before the branch is pushed,
so a failed attempt has somewhere to keep its error and attempt count; it becomes *open* once
the forge answers with a number. The database allows one pending-or-open row per forge and
branch: a retried or duplicated task finds and reuses it instead of opening a second one.

`PullRequestModelStore` is the local forge's `PullRequestStore` on top of this model.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from provisioning.forges import (
    ForgePermanentError,
    ForgeTemporaryError,
    PullRequestRecord,
    PullRequestState,
)

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
                row.state = PullRequest.State.OPEN
                row.save()
        except IntegrityError:
            raise ForgeTemporaryError("Another pull request took that number; retry.") from None
        return row.as_record()

    def get(self, number: int) -> PullRequestRecord:
        row = self._rows().filter(number=number).first()
        if row is None:
            raise KeyError(number)
        return row.as_record()

    def update(self, record: PullRequestRecord) -> None:
        self._rows().filter(number=record.number).update(
            state=str(record.state),
            body=record.body,
            head_sha=record.head_sha,
            merge_sha=record.merge_sha,
            updated_at=timezone.now(),
        )
