"""The state a person should read: the request's status joined to what AWS last held.

The status says what the portal did; "Active" and "Revoked" are only said when AWS agrees.
Every page that counts grants (request page, lists, dashboard, access map, auditor report)
asks `truth_of`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from approvals.models import AccessRequest, Status
from fulfilment.models import PullRequest

from .grants import MERGED_STATES
from .models import GrantCheck

CheckState = GrantCheck.State
Expectation = GrantCheck.Expectation


@dataclass(frozen=True)
class Truth:
    code: str
    label: str
    tone: str  # the badge's colour: "ok", "warn", "bad", "muted"
    detail: str
    checked_at: datetime | None = None

    @property
    def in_aws(self) -> bool | None:
        """Whether AWS holds (part of) the grant: None when nobody could tell."""
        return _IN_AWS.get(self.code)


# code -> (label, tone)
TRUTHS: dict[str, tuple[Any, str]] = {
    "waiting_to_apply": (_("Merged, waiting to be applied"), "warn"),
    "active_verified": (_("Active (verified in AWS)"), "ok"),
    "drifted": (_("Drifted"), "bad"),
    "unverified": (_("Merged, not verified in AWS"), "warn"),
    "removal_open": (_("Revoked in the portal, still in AWS"), "warn"),
    "removal_not_applied": (_("Removal merged, still in AWS"), "bad"),
    "revoked_verified": (_("Revoked (verified: not in AWS)"), "ok"),
    "revoked_unverified": (_("Revoked, not verified in AWS"), "warn"),
}
_IN_AWS: dict[str, bool | None] = {
    "waiting_to_apply": False,
    "active_verified": True,
    "drifted": True,
    "unverified": None,
    "removal_open": True,
    "removal_not_applied": True,
    "revoked_verified": False,
    "revoked_unverified": None,
}


def _truth(code: str, detail: str, check: GrantCheck | None) -> Truth:
    label, tone = TRUTHS[code]
    return Truth(code, str(label), tone, detail, check.checked_at if check else None)


def _unreadable_detail(check: GrantCheck) -> str:
    if check.state == CheckState.ERROR:
        return check.message
    accounts = check.accounts_in(CheckState.UNREADABLE)
    named = ", ".join(f"{a['account_id']} ({a.get('reason') or 'error'})" for a in accounts[:5])
    more = f" and {len(accounts) - 5} more" if len(accounts) > 5 else ""
    return str(_("Not readable: %(accounts)s%(more)s.")) % {"accounts": named, "more": more}


def truth_of(
    access_request: AccessRequest,
    check: GrantCheck | None,
    *,
    grant_merged: bool,
    removal_merged: bool = False,
) -> Truth | None:
    """What AWS says of a merged grant; None before its pull request merged (the request's
    status says all there is)."""
    if not grant_merged:
        return None
    current = check if check is not None and _expects(access_request, check) else None
    if access_request.status in MERGED_STATES:
        if current is None:
            return _truth("unverified", str(_("AWS has not been read since the merge.")), None)
        if current.state == CheckState.MATCHES:
            return _truth("active_verified", "", current)
        if current.state == CheckState.ABSENT:
            return _truth(
                "waiting_to_apply",
                str(_("AWS does not hold the grant yet: the merged change's commands are to run.")),
                current,
            )
        if current.state == CheckState.DIFFERS:
            drifted = current.accounts_in(CheckState.DIFFERS, CheckState.ABSENT)
            return _truth(
                "drifted",
                str(_("%(n)s account(s) differ from the approval.")) % {"n": len(drifted)},
                current,
            )
        return _truth("unverified", _unreadable_detail(current), current)
    if access_request.status != Status.REVOKED:
        return None
    if current is not None and current.state == CheckState.ABSENT:
        return _truth("revoked_verified", "", current)
    if current is not None and current.state in (CheckState.MATCHES, CheckState.DIFFERS):
        held = current.accounts_in(CheckState.MATCHES, CheckState.DIFFERS)
        detail = str(_("AWS still holds the grant in %(n)s account(s).")) % {"n": len(held)}
        return _truth("removal_not_applied" if removal_merged else "removal_open", detail, current)
    if current is None:
        return _truth("revoked_unverified", str(_("AWS has not been read since.")), None)
    return _truth("revoked_unverified", _unreadable_detail(current), current)


def _expects(access_request: AccessRequest, check: GrantCheck) -> bool:
    """A check read for the other expectation (before a revocation) says nothing now."""
    wanted = Expectation.ABSENT if access_request.status == Status.REVOKED else Expectation.PRESENT
    return check.expectation == wanted


def truths_for(requests: list[AccessRequest]) -> dict[int, Truth | None]:
    """`truth_of` for many requests in two queries (lists, the dashboard, the access map)."""
    ids = [r.pk for r in requests]
    checks = {c.access_request_id: c for c in GrantCheck.objects.filter(access_request_id__in=ids)}
    merged: dict[int, set[str]] = {}
    for request_id, purpose in PullRequest.objects.filter(
        access_request_id__in=ids, state=PullRequest.State.MERGED
    ).values_list("access_request_id", "purpose"):
        merged.setdefault(request_id, set()).add(purpose)
    return {
        r.pk: truth_of(
            r,
            checks.get(r.pk),
            grant_merged=PullRequest.Purpose.GRANT in merged.get(r.pk, set()),
            removal_merged=PullRequest.Purpose.REVOKE in merged.get(r.pk, set()),
        )
        for r in requests
    }


def last_used_for(request_ids: list[int]) -> dict[int, datetime | None]:
    """The latest RoleLastUsed AWS reported over each grant's own roles (the vendor page)."""
    return dict(
        GrantCheck.objects.filter(access_request_id__in=request_ids).values_list(
            "access_request_id", "last_used_at"
        )
    )
