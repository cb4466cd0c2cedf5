"""Re-certification: starting campaigns, answering their two parts, and the deadline sweep.

Who answers: the owner's part only the vendor's internal owner; the security part only a
security member with a second factor who did not answer the owner's part (two people look at
every grant). Every answer needs a note. Both parts saying keep keep the grant; either saying
revoke ends it at once through fulfilment (`grant_revoke`, the one place a live grant becomes
revoked, which queues the removal pull request). A grant revoked meanwhile by other means
closes as revoked, and is not revoked twice.

Every service owns its transaction and its audit rows. The lock order is campaign, then
certification, then access request, everywhere, so two of them never wait on each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal import lifecycle
from accessportal.effects import notify_on_commit
from accessportal.lifecycle import each_locked
from accessportal.roles import can_write, require_verified_security
from approvals.models import LIVE_STATES, REVOCABLE, AccessRequest, Approval
from audit.services import audit_record
from fulfilment.revocation import grant_revoke, request_revoke
from recertification.models import (
    CAMPAIGN_LIFECYCLE,
    CERTIFICATION_LIFECYCLE,
    REVOKED_ELSEWHERE,
    Campaign,
    Certification,
)
from vendors.models import Tier, Vendor
from vendors.services import add_months, review_interval_months

logger = logging.getLogger(__name__)
Decision = Certification.Decision
Outcome = Certification.Outcome
OWNER, SECURITY = "owner", "security"
# A campaign security starts runs at least until tomorrow, and at most this long: an auditor
# expects a campaign to end within the quarter it was started in.
MAX_CAMPAIGN_DAYS = 90
NOTE_MAX_LENGTH = 2000
SOURCE = "recertification"


def deadline_reason(deadline: date) -> str:
    """The revocation's reason (and the notice's comment) when nobody re-certified in time."""
    return f"Not re-certified by {deadline.isoformat()}"


def campaign_url(campaign_id: int) -> str:
    """The absolute address of the campaign's page, for the notices (their link is the
    request's; the answer forms are on the campaign's page)."""
    path = reverse("recertification:campaign_detail", kwargs={"pk": campaign_id})
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def due_comment(campaign_id: int, deadline: date) -> str:
    return f"Due by {deadline.isoformat()}. Answer on {campaign_url(campaign_id)}"


# --- starting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantFilter:
    """Which live grants a campaign takes: one vendor's, one tier's, or every one."""

    vendor_id: int | None = None
    tier: str = ""


def live_grants(grant_filter: GrantFilter) -> QuerySet[AccessRequest]:
    """The live grants matching the filter that no open campaign is asking about yet."""
    grants = AccessRequest.objects.filter(status__in=LIVE_STATES)
    if grant_filter.vendor_id is not None:
        grants = grants.filter(vendor_id=grant_filter.vendor_id)
    if grant_filter.tier:
        # The vendor's effective tier: its override when security set one.
        grants = grants.filter(
            Q(vendor__tier_override=grant_filter.tier)
            | Q(vendor__tier_override="", vendor__tier=grant_filter.tier)
        )
    pending = Certification.objects.filter(access_request=OuterRef("pk"), outcome=Outcome.PENDING)
    return grants.exclude(Exists(pending)).order_by("pk")


def _open_campaign(
    *,
    name: str,
    kind: str,
    deadline: date,
    grant_ids: list[int],
    actor: Any,
    vendor: Vendor | None = None,
    tier: str = "",
) -> Campaign:
    campaign = Campaign.objects.create(
        name=name,
        kind=kind,
        vendor=vendor,
        vendor_tier=tier,
        started_by=actor,
        deadline=deadline,
    )
    try:
        with transaction.atomic():
            Certification.objects.bulk_create(
                Certification(campaign=campaign, access_request_id=pk) for pk in grant_ids
            )
    except IntegrityError as exc:
        # Another campaign took one of these grants since they were read (one pending
        # certification per grant): nothing of this one is kept.
        raise ValidationError(
            _("Another campaign started meanwhile took some of these grants: try again.")
        ) from exc
    audit_record(
        actor=actor,
        action="recertification.campaign_start",
        obj=campaign,
        after={
            "name": name,
            "kind": kind,
            "vendor": vendor.pk if vendor else None,
            "tier": tier,
            "deadline": deadline.isoformat(),
            "requests": grant_ids,
        },
    )
    # Not a move of any lifecycle: the items are created asking.
    for pk in grant_ids:
        notify_on_commit(
            access_request_id=pk,
            event="recert_asked",
            actor_id=None,
            comment=due_comment(campaign.pk, deadline),
        )
    return campaign


@transaction.atomic
def campaign_start(
    *,
    actor: Any,
    mfa_verified: bool,
    name: str,
    deadline: date,
    vendor_id: int | None = None,
    tier: str = "",
    today: date | None = None,
) -> Campaign:
    """Security starts a campaign over every live grant matching the filter at this moment."""
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team starts a re-certification campaign."),
    )
    today = today or timezone.localdate()
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Name the campaign.")})
    if deadline < today + timedelta(days=1):
        raise ValidationError({"deadline": _("The deadline is tomorrow at the earliest.")})
    if deadline > today + timedelta(days=MAX_CAMPAIGN_DAYS):
        raise ValidationError(
            {
                "deadline": _("The deadline is at most %(days)s days ahead.")
                % {"days": MAX_CAMPAIGN_DAYS}
            }
        )
    if tier and tier not in Tier.values:
        raise ValidationError({"tier": _("Choose a tier from the list.")})
    vendor = Vendor.objects.filter(pk=vendor_id).first() if vendor_id is not None else None
    if vendor_id is not None and vendor is None:
        raise ValidationError({"vendor": _("No such vendor.")})
    # Two campaigns started at once cannot both take a grant: the database allows one pending
    # certification per grant (the later start fails and is rolled back whole).
    grant_ids = list(
        live_grants(GrantFilter(vendor_id=vendor_id, tier=tier)).values_list("pk", flat=True)
    )
    if not grant_ids:
        raise ValidationError(
            _("No live grant matches, or every one is in an open campaign already.")
        )
    return _open_campaign(
        name=name,
        kind=Campaign.Kind.MANUAL,
        deadline=deadline,
        grant_ids=grant_ids,
        actor=actor,
        vendor=vendor,
        tier=tier,
    )


def _due_grants(vendor: Vendor, *, today: date) -> list[int]:
    """The vendor's live grants last kept (or, never re-certified, approved) longer ago than
    its tier's review interval, and in no open campaign."""
    cutoff = add_months(today, -review_interval_months(vendor.effective_tier))
    last_kept = (
        Certification.objects.filter(access_request=OuterRef("pk"), outcome=Outcome.KEPT)
        .values("access_request")
        .annotate(at=Max("decided_at"))
        .values("at")
    )
    approved = (
        Approval.objects.filter(access_request=OuterRef("pk"), decision=Approval.Decision.APPROVE)
        .values("access_request")
        .annotate(at=Max("created_at"))
        .values("at")
    )
    since = Coalesce(
        Subquery(last_kept, output_field=DateTimeField()),
        Subquery(approved, output_field=DateTimeField()),
        F("created_at"),
    )
    start_of_cutoff = timezone.make_aware(datetime.combine(cutoff, time.min))
    return list(
        live_grants(GrantFilter(vendor_id=vendor.pk))
        .annotate(since=since)
        .filter(since__lt=start_of_cutoff)
        .values_list("pk", flat=True)
    )


def campaigns_cadence(*, today: date | None = None) -> list[int]:
    """The beat's daily pass: a cadence campaign for each active vendor with grants due by its
    tier's interval (`PORTAL_REVIEW_MONTHS`), answered within `PORTAL_RECERT_DAYS`. Returns
    the campaigns opened. Idempotent: a grant already asked about is not due again until
    decided, and the vendor's row lock keeps two passes at once from both opening one."""
    today = today or timezone.localdate()
    opened = []
    vendor_ids = (
        Vendor.objects.filter(status=Vendor.Status.ACTIVE, access_requests__status__in=LIVE_STATES)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    for vendor_id in list(vendor_ids):
        try:
            with transaction.atomic():
                vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
                grant_ids = _due_grants(vendor, today=today)
                if not grant_ids:
                    continue
                tier = vendor.get_effective_tier_display()
                campaign = _open_campaign(
                    name=f"{vendor.name}: {tier} review cadence, {today.isoformat()}",
                    kind=Campaign.Kind.CADENCE,
                    deadline=today + timedelta(days=settings.PORTAL_RECERT_DAYS),
                    grant_ids=grant_ids,
                    actor=None,
                    vendor=vendor,
                )
        except ValidationError:
            # A campaign security started meanwhile took the grants: tomorrow's pass sees
            # what is still due; the other vendors go on.
            logger.info("Vendor #%s's grants were taken by another campaign", vendor_id)
            continue
        opened.append(campaign.pk)
    return opened


# --- answering --------------------------------------------------------------------------------


def _note(note: str) -> str:
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("Say why: every answer needs a note.")})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": _("Keep the note under %(n)s characters.") % {"n": NOTE_MAX_LENGTH}}
        )
    return note


def _decide(certification: Certification, *, to: str, actor: Any, comment: str, by: str) -> None:
    certification.decided_at = timezone.now()
    certification.closed_by = by

    def audited(before: str, after: str) -> None:
        audit_record(
            actor=actor,
            action="recertification.decide",
            obj=certification.access_request,
            before={"outcome": before},
            after={
                "outcome": after,
                "campaign": certification.campaign_id,
                "closed_by": by,
                "comment": comment,
            },
        )

    lifecycle.transition(
        certification,
        CERTIFICATION_LIFECYCLE,
        to=to,
        extra_fields=["decided_at", "closed_by"],
        on_change=audited,
        actor_id=getattr(actor, "pk", None),
        comment=comment,
    )


def _close_if_done(campaign: Campaign) -> bool:
    """Closes the campaign once no item is pending (compare-and-set: items never go back to
    pending, so once true it stays true, and of two callers one closes it)."""
    pending = Certification.objects.filter(campaign=OuterRef("pk"), outcome=Outcome.PENDING)
    closed = lifecycle.claim(
        Campaign.objects.filter(pk=campaign.pk).exclude(Exists(pending)),
        CAMPAIGN_LIFECYCLE,
        to=Campaign.Status.CLOSED,
        closed_at=timezone.now(),
    )
    if closed:
        audit_record(
            actor=None,
            action="recertification.campaign_close",
            obj=campaign,
            after={"status": Campaign.Status.CLOSED},
        )
    return bool(closed)


@transaction.atomic
def certification_answer(
    *,
    certification_id: int,
    actor: Any,
    part: str,
    decision: str,
    note: str,
    mfa_verified: bool = False,
) -> Certification:
    """The owner (`part="owner"`) or security (`part="security"`) answers one grant's part:
    keep or revoke, with a note. See the module docstring for who may, and what follows."""
    if part not in (OWNER, SECURITY):
        raise ValueError(part)
    if decision not in Decision.values:
        raise ValidationError({"decision": _("Choose keep or revoke.")})
    campaign_id = (
        Certification.objects.filter(pk=certification_id)
        .values_list("campaign_id", flat=True)
        .get()
    )
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    certification = (
        Certification.objects.select_for_update()
        .select_related("access_request__vendor")
        .get(pk=certification_id)
    )
    access_request = AccessRequest.objects.select_for_update().get(
        pk=certification.access_request_id
    )
    certification.access_request = access_request
    vendor = certification.access_request.vendor
    if part == OWNER:
        if actor.pk != vendor.internal_owner_id or not can_write(actor):
            raise PermissionDenied(_("Only the vendor's internal owner answers the owner's part."))
    else:
        require_verified_security(
            actor,
            mfa_verified=mfa_verified,
            refusal=_("Only the security team answers the security part."),
        )
    if certification.outcome != Outcome.PENDING:
        raise ValidationError(_("This grant's re-certification is decided already."))
    if access_request.status not in REVOCABLE:
        # Revoked meanwhile by other means: closed as revoked, not revoked twice.
        _decide(
            certification,
            to=Outcome.REVOKED,
            actor=None,
            comment=_("The grant was revoked meanwhile."),
            by=REVOKED_ELSEWHERE,
        )
        _close_if_done(campaign)
        return certification
    if timezone.localdate() > campaign.deadline:
        # Not re-certified by the deadline: the sweep revokes it; a late keep does not count.
        raise ValidationError(
            _("The deadline (%(day)s) has passed: the grant is being revoked.")
            % {"day": campaign.deadline.isoformat()}
        )
    if part == OWNER:
        if certification.owner_decision:
            raise ValidationError(_("The owner's part is answered already."))
        if actor.pk == certification.security_by_id:
            raise ValidationError(_("Two people answer: you answered the security part."))
    else:
        if certification.security_decision:
            raise ValidationError(_("The security part is answered already."))
        if actor.pk == certification.owner_by_id:
            raise ValidationError(_("Two people answer: you answered the owner's part."))
    note = _note(note)
    now = timezone.now()
    setattr(certification, f"{part}_decision", decision)
    setattr(certification, f"{part}_by", actor)
    setattr(certification, f"{part}_at", now)
    setattr(certification, f"{part}_note", note)
    certification.save(
        update_fields=[f"{part}_decision", f"{part}_by", f"{part}_at", f"{part}_note"]
    )
    audit_record(
        actor=actor,
        action="recertification.answer",
        obj=access_request,
        after={"campaign": campaign.pk, "part": part, "decision": decision, "note": note},
    )
    if decision == Decision.REVOKE:
        reason = f"Revoked at re-certification ({part}): {note}"
        if part == SECURITY:
            # Security's own revocation, with its own gate and policy.
            request_revoke(
                request_id=access_request.pk, actor=actor, mfa_verified=mfa_verified, reason=reason
            )
            access_request.refresh_from_db(fields=["status"])
        else:
            # The owner is no security member: the revocation is the campaign's, so it goes
            # through the one place a grant becomes revoked, without security's gate.
            grant_revoke(access_request, actor=actor, reason=reason, source=SOURCE)
        _decide(certification, to=Outcome.REVOKED, actor=actor, comment=note, by=part)
    elif certification.owner_decision == certification.security_decision == Decision.KEEP:
        _decide(certification, to=Outcome.KEPT, actor=actor, comment=note, by="both")
    if certification.outcome != Outcome.PENDING:
        _close_if_done(campaign)
    return certification


# --- the deadline -----------------------------------------------------------------------------


def campaigns_sweep(*, today: date | None = None) -> dict[str, int]:
    """The hourly sweep: warns the items still undecided `PORTAL_RECERT_WARN_DAYS` before
    their campaign's deadline (once: `warned_at`), revokes as the system each grant still
    undecided once the deadline has passed, closes items whose grant was revoked meanwhile,
    and closes campaigns with nothing pending. Idempotent, and safe with two workers at once:
    each item is claimed with a compare-and-set or a skip-locked row lock."""
    today = today or timezone.localdate()
    counts = {"warned": 0, "revoked": 0, "closed_elsewhere": 0, "campaigns_closed": 0}
    pending = Certification.objects.filter(
        outcome=Outcome.PENDING, campaign__status=Campaign.Status.OPEN
    )

    def revoke_past_deadline(certification: Certification) -> None:
        access_request = AccessRequest.objects.select_for_update().get(
            pk=certification.access_request_id
        )
        certification.access_request = access_request
        reason = deadline_reason(certification.campaign.deadline)
        if access_request.status in REVOCABLE:
            grant_revoke(access_request, actor=None, reason=reason, source=SOURCE)
            counts["revoked"] += 1
            by = "deadline"
        else:
            counts["closed_elsewhere"] += 1
            by = REVOKED_ELSEWHERE
        _decide(certification, to=Outcome.REVOKED, actor=None, comment=reason, by=by)

    def close_revoked_elsewhere(certification: Certification) -> None:
        _decide(
            certification,
            to=Outcome.REVOKED,
            actor=None,
            comment="The grant was revoked meanwhile.",
            by=REVOKED_ELSEWHERE,
        )
        counts["closed_elsewhere"] += 1

    # Each item locked on its own (skip-locked) with its condition checked again under the
    # lock: decided meanwhile, or held by another worker, it is left alone. The deadline is
    # the last day to answer: revoked from the day after.
    each_locked(
        pending.filter(campaign__deadline__lt=today).select_related("campaign"),
        revoke_past_deadline,
    )
    # Grants revoked by other means (security, expiry, offboarding) while still asked about.
    each_locked(
        pending.exclude(access_request__status__in=REVOCABLE).select_related("access_request"),
        close_revoked_elsewhere,
    )
    warn_by = today + timedelta(days=settings.PORTAL_RECERT_WARN_DAYS)
    due = pending.filter(
        warned_at__isnull=True, campaign__deadline__gte=today, campaign__deadline__lte=warn_by
    ).values_list("pk", "access_request_id", "campaign_id", "campaign__deadline")
    for pk, request_id, campaign_id, deadline in list(due):
        with transaction.atomic():
            # Compare-and-set: of two workers, one sets `warned_at`, and only it warns.
            claimed = Certification.objects.filter(
                pk=pk, outcome=Outcome.PENDING, warned_at__isnull=True
            ).update(warned_at=timezone.now())
            if not claimed:
                continue
            audit_record(
                actor=None,
                action="recertification.warn",
                obj=AccessRequest.objects.get(pk=request_id),
                after={"certification": pk, "deadline": deadline.isoformat()},
            )
            notify_on_commit(
                access_request_id=request_id,
                event="recert_warning",
                comment=due_comment(campaign_id, deadline),
            )
            counts["warned"] += 1
    open_ids = Campaign.objects.filter(status=Campaign.Status.OPEN).values_list("pk", flat=True)
    for campaign in Campaign.objects.filter(pk__in=list(open_ids)):
        with transaction.atomic():
            counts["campaigns_closed"] += _close_if_done(campaign)
    return counts
