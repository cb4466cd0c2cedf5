"""Where a request stands, what happens next and who must act: the lead of its page.

Pure functions over plain facts (no query, no Django model), so that every status of the one
state machine (`approvals.models.TRANSITIONS`) has words that stay true, tested one by one in
tests/approvals/test_next_step.py. The request page builds the facts from what it has loaded
already (issue 20: "the state is obvious"; the page's query count is pinned).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

# Who must act next, as the page names them. NOBODY: the request is at an end, or the grant
# simply runs until its end date.
REQUESTER = "requester"
SECURITY = "security"
PORTAL = "portal"
ADMIN = "substrate_admin"
NOBODY = "nobody"

WHO_LABELS = {
    REQUESTER: gettext_lazy("The requester"),
    SECURITY: gettext_lazy("The security team"),
    PORTAL: gettext_lazy("The portal (no one needs to act)"),
    ADMIN: gettext_lazy("Someone with Substrate-account Administrator"),
    NOBODY: gettext_lazy("Nobody"),
}


@dataclass(frozen=True)
class Facts:
    """What the lead needs to know of a request beyond its status (all already on the page)."""

    status: str
    requester: str = ""
    approvals: int = 0
    required_approvals: int = 1
    expires_on: date | None = None
    grant_pr_number: int | None = None
    grant_pr_state: str = ""  # a PullRequest.State value, "" when there is none
    grant_commands_pending: bool = False
    revoke_pr_number: int | None = None
    revoke_pr_state: str = ""
    revoke_commands_pending: bool = False
    extension_until: date | None = None
    blocked: bool = False  # approval blockers (a vendor review, lint errors)
    # While submitted, from the rules in force: approvals still missing, and the usernames of
    # those who may still give them (approvals.rules.Standing).
    missing: int | None = None
    candidates: tuple[str, ...] = ()
    # A pull request merged with a head other than the approved commit, not reviewed yet.
    head_review_pending: bool = False


@dataclass(frozen=True)
class Standing:
    """The lead of a request's page: `where` it stands, the `next` step, `who` takes it."""

    where: str
    next: str
    who: str
    tone: str  # "ok", "wait", "act", "bad" or "end": the lead's colour
    who_detail: str = ""  # the people by name, when the page knows them

    @property
    def who_label(self) -> str:
        return str(WHO_LABELS[self.who])


def _pr(number: int | None) -> str:
    # "Pull request #N" always: the portal's request numbers are "Request #N" (issue 20).
    return _("pull request #%(n)s") % {"n": number} if number else _("the pull request")


def _ends(facts: Facts) -> str:
    if facts.expires_on is None:
        return ""
    return " " + _("It ends on %(day)s.") % {"day": facts.expires_on.isoformat()}


def _draft(f: Facts) -> Standing:
    return Standing(
        _("A draft: the security team has not seen it."),
        _("Finish the request and submit it to the security team."),
        REQUESTER,
        "act",
        f.requester,
    )


def _submitted(f: Facts) -> Standing:
    missing = f.missing if f.missing is not None else f.required_approvals - f.approvals
    missing = max(missing, 1)
    where = _("Submitted, awaiting approval: %(have)s of %(need)s approvals.") % {
        "have": f.approvals,
        "need": f.required_approvals,
    }
    if f.blocked:
        return Standing(
            where,
            _("Clear what blocks approval (listed below); then security can approve it."),
            REQUESTER,
            "act",
            f.requester,
        )
    return Standing(
        where,
        ngettext(
            "One more security member approves or rejects it.",
            "%(n)s more security members approve it, or one rejects it.",
            missing,
        )
        % {"n": missing},
        SECURITY,
        "wait",
        ", ".join(f.candidates),
    )


def _approved(f: Facts) -> Standing:
    return Standing(
        _("Approved: the portal is preparing the pull request."),
        _("The portal opens a pull request on the Substrate repository; this page follows it."),
        PORTAL,
        "wait",
    )


def _provisioning(f: Facts) -> Standing:
    return Standing(
        _("Approved: the portal is generating the change and pushing its branch."),
        _("The portal opens the pull request; this page follows it."),
        PORTAL,
        "wait",
    )


def _pr_open(f: Facts) -> Standing:
    pr = _pr(f.grant_pr_number)
    return Standing(
        _("Approved; %(pr)s is open, not merged: nothing is granted in AWS yet.") % {"pr": pr},
        _("Review and merge %(pr)s in the Substrate repository.") % {"pr": pr},
        SECURITY,
        "act",
    )


def _failed(f: Facts) -> Standing:
    return Standing(
        _("Approved, but fulfilment failed: nothing is granted (the error is below)."),
        _("Fix the cause and retry provisioning, or revoke the request."),
        SECURITY,
        "bad",
    )


def _merge_mismatch(f: Facts) -> Standing:
    return Standing(
        _(
            "Merged, but with a head that is not the approved commit: "
            "not active until security has looked."
        ),
        _("Review what was merged, then make it active or revoke the access."),
        SECURITY,
        "bad",
    )


def _live(f: Facts, where: str) -> Standing:
    if f.grant_commands_pending:
        return Standing(
            where,
            _("Run the commands listed below from the Substrate repository, then say so."),
            ADMIN,
            "act",
        )
    if f.extension_until is not None:
        return Standing(
            where,
            _("The security team decides the extension until %(day)s.")
            % {"day": f.extension_until.isoformat()},
            SECURITY,
            "wait",
        )
    return Standing(where, "", NOBODY, "ok")


def _active(f: Facts) -> Standing:
    standing = _live(f, _("Active: merged, the access is granted.") + _ends(f))
    if standing.who == NOBODY:
        return Standing(
            standing.where,
            _("Nothing to do: the access ends on its end date unless it is extended."),
            NOBODY,
            "ok",
        )
    return standing


def _expiring(f: Facts) -> Standing:
    standing = _live(f, _("Active, ending soon.") + _ends(f))
    if standing.who == NOBODY:
        return Standing(
            standing.where,
            _("Ask for an extension if the vendor still needs it; otherwise it ends."),
            REQUESTER,
            "act",
            f.requester,
        )
    return standing


def _revoked(f: Facts) -> Standing:
    if f.revoke_pr_state in ("", "pending"):
        return Standing(
            _("Revoked: the portal is preparing the pull request that removes the access."),
            _("The portal opens the revocation pull request."),
            PORTAL,
            "wait",
        )
    pr = _pr(f.revoke_pr_number)
    if f.revoke_pr_state == "open":
        return Standing(
            _("Revoked; the revocation (%(pr)s) is open, not merged yet.") % {"pr": pr},
            _("Review and merge %(pr)s in the Substrate repository.") % {"pr": pr},
            SECURITY,
            "act",
        )
    if f.revoke_pr_state in ("failed", "closed"):
        return Standing(
            _("Revoked, but the pull request that removes the access did not go through."),
            _("Retry the revocation (the error is below)."),
            SECURITY,
            "bad",
        )
    if f.revoke_commands_pending:
        return Standing(
            _("Revoked; the revocation is merged."),
            _("Run the revocation's commands listed below, then say so."),
            ADMIN,
            "act",
        )
    return Standing(
        _("Revoked: the access is removed."), _("Nothing: this request is closed."), NOBODY, "end"
    )


def _closed(where: str) -> Standing:
    return Standing(
        where,
        _("Nothing: this request is closed. Duplicate it to ask again."),
        NOBODY,
        "end",
    )


def _rejected(f: Facts) -> Standing:
    return _closed(_("Rejected by the security team: nothing was granted."))


def _withdrawn(f: Facts) -> Standing:
    return _closed(_("Withdrawn by its requester: nothing was granted."))


def _lapsed(f: Facts) -> Standing:
    return _closed(_("Lapsed: nobody decided in time, nothing was granted."))


# One entry per status of approvals.models.TRANSITIONS (tests/approvals/test_next_step.py
# fails on a status missing here).
STANDINGS = {
    "draft": _draft,
    "submitted": _submitted,
    "approved": _approved,
    "provisioning": _provisioning,
    "pr_open": _pr_open,
    "failed": _failed,
    "merge_mismatch": _merge_mismatch,
    "active": _active,
    "expiring": _expiring,
    "revoked": _revoked,
    "rejected": _rejected,
    "withdrawn": _withdrawn,
    "lapsed": _lapsed,
}


def standing(facts: Facts) -> Standing:
    """Where the request stands, the next step and who must take it."""
    lead = STANDINGS[facts.status](facts)
    if facts.head_review_pending and facts.status != "merge_mismatch":
        # Whatever the status says, the repository may hold more than was approved: security
        # looks first (fulfilment.merge_review).
        return Standing(
            lead.where,
            _("Review what was merged (not the approved commit), then say so on this page."),
            SECURITY,
            "bad",
        )
    return lead


# Statuses in which nothing was ever granted: the change was never made.
NEVER_GRANTED = frozenset({"draft", "submitted", "rejected", "withdrawn", "lapsed"})
# The grant's pull request is merged (or was, before a revocation).
MERGED = frozenset({"active", "expiring", "merge_mismatch"})


def change_heading(status: str, grant_merged: bool) -> str:
    """The heading of the generated change, true in every status: a merged change "made", a
    change not merged yet "will make", one that never will "would have made"."""
    if grant_merged or status in MERGED:
        return _("The change it made")
    if status in NEVER_GRANTED - {"draft", "submitted"} or status == "revoked":
        return _("The change it would have made")
    return _("The change it will make")


def offers_grant_commands(status: str) -> bool:
    """Whether the page may offer the grant's post-merge commands: not once the request is
    revoked, rejected, withdrawn or lapsed (running them would create access nobody holds)."""
    return status not in {"revoked", "rejected", "withdrawn", "lapsed"}


# The request's audit actions as the timeline names them, in plain words.
STEP_LABELS = {
    "request.create": gettext_lazy("Filed as a draft"),
    "request.update": gettext_lazy("Draft edited"),
    "request.duplicate": gettext_lazy("Filed as a copy"),
    "request.submit": gettext_lazy("Submitted to security"),
    "request.approval_recorded": gettext_lazy("Approval recorded"),
    "request.approve": gettext_lazy("Approved"),
    "request.reject": gettext_lazy("Rejected"),
    "request.withdraw": gettext_lazy("Withdrawn"),
    "request.lapse": gettext_lazy("Lapsed: nobody decided in time"),
    "request.reminded": gettext_lazy("Reminder sent"),
    "request.provision": gettext_lazy("Change being generated"),
    "request.provision_fail": gettext_lazy("Fulfilment failed"),
    "request.provision_retry": gettext_lazy("Fulfilment retried"),
    "request.pr_open": gettext_lazy("Pull request opened"),
    "request.activate": gettext_lazy("Merged: access granted"),
    "request.merge_mismatch": gettext_lazy("Merged an unapproved head"),
    "request.merge_acknowledge": gettext_lazy("Merged head reviewed"),
    "request.expiring": gettext_lazy("Ending soon"),
    "request.renew": gettext_lazy("End date extended"),
    "request.extension_ask": gettext_lazy("Extension asked"),
    "request.extension_approval_recorded": gettext_lazy("Extension approval recorded"),
    "request.extension_grant": gettext_lazy("Extension granted"),
    "request.extension_lapse": gettext_lazy("Extension lapsed"),
    "request.extension_reminded": gettext_lazy("Extension reminder sent"),
    "request.revoke": gettext_lazy("Revoked"),
    "request.revoke_pr_open": gettext_lazy("Revocation pull request opened"),
    "request.revoke_fail": gettext_lazy("Revocation failed"),
    "request.revoke_retry": gettext_lazy("Revocation retried"),
    "request.revoke_nothing_to_remove": gettext_lazy("Revocation: nothing to remove"),
    "request.revocation_merged": gettext_lazy("Revocation merged: access removed"),
    "grant.verify_requested": gettext_lazy("AWS check asked"),
    "grant.verified": gettext_lazy("Checked in AWS"),
    "grant.idle": gettext_lazy("Unused in AWS"),
}
# The tone of a step's dot on the timeline.
STEP_TONES = {
    "request.approve": "ok",
    "request.activate": "ok",
    "request.revocation_merged": "end",
    "request.extension_grant": "ok",
    "grant.verified": "ok",
    "request.reject": "bad",
    "request.provision_fail": "bad",
    "request.revoke_fail": "bad",
    "request.merge_mismatch": "bad",
    "request.lapse": "end",
    "request.withdraw": "end",
    "request.revoke": "end",
}


@dataclass(frozen=True)
class Step:
    """One entry of the request's timeline."""

    when: Any  # a datetime
    label: str
    action: str
    who: str
    status: str  # the status it moved to, "" when the step did not move it
    comment: str
    tone: str


def timeline_steps(events: Iterable[Any], status_labels: dict[str, str]) -> list[Step]:
    """The request's audit events, oldest first, as named steps (an action without a name
    keeps its code: the log is the record, the name only a reading of it)."""
    steps = []
    for event in events:
        after = event.after if isinstance(event.after, dict) else {}
        moved = after.get("status", "") if isinstance(event.before, dict) else ""
        label = STEP_LABELS.get(event.action)
        steps.append(
            Step(
                when=event.created_at,
                label=str(label) if label else event.action,
                action=event.action,
                who=event.actor_username or _("the portal"),
                status=str(status_labels.get(moved, moved)) if moved else "",
                comment=str(after.get("comment", "") or ""),
                tone=STEP_TONES.get(event.action, ""),
            )
        )
    return steps
