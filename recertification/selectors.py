"""Reads of re-certification for the pages and the exports: who sees which campaign, and each
campaign's items in a fixed number of queries whatever their count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accessportal.roles import Role, can_write, has_role
from recertification.models import Campaign, Certification
from verification.truth import last_used_for

Outcome = Certification.Outcome


def sees_every_campaign(user: Any) -> bool:
    return has_role(user, Role.SECURITY, Role.AUDITORS)


def campaign_list_for(user: Any) -> QuerySet[Campaign]:
    """Security and auditors see every campaign; anyone else, the campaigns asking about a
    grant of a vendor they own. Each with its progress (`items`, `decided`)."""
    campaigns = Campaign.objects.select_related("vendor", "started_by")
    # An owner's progress counts their own vendors' grants only, as their page shows.
    every = sees_every_campaign(user)
    mine = Q() if every else Q(certifications__access_request__vendor__internal_owner_id=user.pk)
    campaigns = campaigns.annotate(
        items=Count("certifications", filter=mine),
        decided=Count("certifications", filter=mine & ~Q(certifications__outcome=Outcome.PENDING)),
    )
    if every:
        return campaigns
    owned = Certification.objects.filter(
        campaign=OuterRef("pk"), access_request__vendor__internal_owner_id=user.pk
    )
    return campaigns.filter(Exists(owned))


def campaign_for(user: Any, campaign_id: int) -> Campaign | None:
    """The campaign if `user` may see it, with its progress; None otherwise."""
    return campaign_list_for(user).filter(pk=campaign_id).first()


@dataclass(frozen=True)
class Item:
    """One grant of a campaign as the page and the exports show it."""

    certification: Certification
    accounts: int
    last_used_at: datetime | None
    may_answer_owner: bool
    may_answer_security: bool


def campaign_items(campaign: Campaign, user: Any | None = None) -> list[Item]:
    """The campaign's items `user` may see (all for security, auditors and the exports, which
    pass no user; a vendor owner's own vendors' otherwise), with who may answer which part."""
    rows = (
        Certification.objects.filter(campaign=campaign)
        .select_related(
            "access_request__vendor__internal_owner",
            "access_request__requester",
            "owner_by",
            "security_by",
        )
        .annotate(accounts=Count("access_request__target_accounts"))
        .order_by("access_request_id")
    )
    if user is not None and not sees_every_campaign(user):
        rows = rows.filter(access_request__vendor__internal_owner_id=user.pk)
    certifications = list(rows)
    used = last_used_for([c.access_request_id for c in certifications])
    writer = user is not None and can_write(user)
    security = writer and user is not None and has_role(user, Role.SECURITY)
    # After the deadline nothing is answered any more: the sweep revokes what is left.
    answerable = timezone.localdate() <= campaign.deadline
    items = []
    for certification in certifications:
        pending = answerable and certification.outcome == Outcome.PENDING
        vendor = certification.access_request.vendor
        user_pk = getattr(user, "pk", None)
        items.append(
            Item(
                certification=certification,
                accounts=certification.accounts,  # type: ignore[attr-defined]
                last_used_at=used.get(certification.access_request_id),
                may_answer_owner=writer
                and pending
                and not certification.owner_decision
                and user_pk == vendor.internal_owner_id
                and user_pk != certification.security_by_id,
                may_answer_security=security
                and pending
                and not certification.security_decision
                and user_pk != certification.owner_by_id,
            )
        )
    return items
