"""The access map: which vendors can reach which accounts, how, and until when.

One page of vendors (rows) against the accounts their live grants reach (columns, grouped by
domain, environment and quality), built with a fixed number of queries whatever the size of
the organization: the vendors of the page, their grants, the grants' accounts, the accounts.
Strategies that reach every account (Auditor, Administrator) get one "whole organization"
column instead of a cell in each of a thousand accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from approvals.models import AccessRequest, Strategy
from inventory.models import AwsAccount
from keys.models import AccessKey
from reports.subprocessors import LIVE_GRANT_STATES, ORGANIZATION_WIDE
from vendors.models import Vendor
from verification.models import ExternalAccessFinding, GrantCheck

VENDORS_PER_PAGE = 25
MAX_ACCOUNT_COLUMNS = 80
PRODUCTION_ENVIRONMENTS = ("production", "prod")
EXPIRING_DAYS = 30
STRATEGY_SHORT: dict[str, str] = {
    Strategy.ROLE_PER_ACCOUNT: "role",
    Strategy.HUB_ROLE: "hub",
    Strategy.AUDITOR: "auditor",
    Strategy.ADMINISTRATOR: "admin",
    Strategy.IAM_USER: "key",
}
Through = AccessRequest.target_accounts.through


@dataclass(frozen=True)
class MapFilters:
    """The map's filters (all optional)."""

    production_only: bool = False
    admin_only: bool = False
    expiring_only: bool = False
    domain: str = ""
    environment: str = ""
    strategy: str = ""
    search: str = ""

    def account_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.production_only:
            q &= Q(**{f"{prefix}environment__in": PRODUCTION_ENVIRONMENTS})
        if self.domain:
            q &= Q(**{f"{prefix}domain": self.domain})
        if self.environment:
            q &= Q(**{f"{prefix}environment": self.environment})
        return q

    @property
    def narrows_accounts(self) -> bool:
        return self.production_only or bool(self.domain or self.environment)


@dataclass
class Cell:
    grants: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AccessMap:
    page: Page[Vendor]
    accounts: list[AwsAccount]
    more_accounts: bool
    header_groups: list[list[tuple[str, int]]]
    rows: list[dict[str, Any]]
    today: date
    # Outside trusts nobody approved, by account (the scan's open findings): rows of their own.
    unapproved: list[dict[str, Any]] = field(default_factory=list)


# What AWS last held for a live grant, as a mark's class and words (verification.truth says
# the same in full on the request page).
AWS_MARKS: dict[str, tuple[str, str]] = {
    GrantCheck.State.MATCHES: ("verified", "verified in AWS"),
    GrantCheck.State.DIFFERS: ("drifted", "drifted in AWS"),
    GrantCheck.State.ABSENT: ("waiting", "merged, not yet in AWS"),
    GrantCheck.State.UNREADABLE: ("unverified", "not verified in AWS"),
    GrantCheck.State.ERROR: ("unverified", "not verified in AWS"),
}
UNVERIFIED = ("unverified", "not verified in AWS")
STILL_HELD = ("held", "revoked, still in AWS")
UNAPPROVED_ROWS = 50


def live_grants(filters: MapFilters) -> QuerySet[AccessRequest]:
    """Live grants matching the filters, and revoked ones AWS still held when last read (the
    vendor can still reach those accounts: the map shows what AWS holds)."""
    still_held = Q(
        status=AccessRequest.Status.REVOKED,
        grant_check__expectation=GrantCheck.Expectation.ABSENT,
        grant_check__state__in=[GrantCheck.State.MATCHES, GrantCheck.State.DIFFERS],
    )
    grants = AccessRequest.objects.filter(Q(status__in=LIVE_GRANT_STATES) | still_held)
    if filters.admin_only:
        grants = grants.filter(Q(admin_equivalent=True) | Q(strategy=Strategy.ADMINISTRATOR))
    if filters.expiring_only:
        soon = timezone.localdate() + timedelta(days=EXPIRING_DAYS)
        grants = grants.filter(expires_on__lte=soon)
    if filters.strategy:
        grants = grants.filter(strategy=filters.strategy)
    if filters.search:
        grants = grants.filter(vendor__name__icontains=filters.search)
    if filters.narrows_accounts:
        # Organization-wide strategies reach every account, so they match any account filter.
        reaches = Through.objects.filter(accessrequest_id=OuterRef("pk")).filter(
            filters.account_q("awsaccount__")
        )
        grants = grants.filter(Q(strategy__in=list(ORGANIZATION_WIDE)) | Exists(reaches))
    return grants


def access_map(*, filters: MapFilters, page_number: Any = 1) -> AccessMap:
    """One page of the map (five queries, plus the paginator's count)."""
    grants = live_grants(filters)
    vendors = Vendor.objects.filter(pk__in=grants.values("vendor_id")).order_by("name", "pk")
    page = Paginator(vendors, VENDORS_PER_PAGE).get_page(page_number)
    values = (
        grants.filter(vendor_id__in=[v.pk for v in page.object_list])
        .values(
            "pk", "vendor_id", "strategy", "risk_level", "admin_equivalent", "expires_on", "status"
        )
        .order_by("pk")
    )
    page_grants: list[dict[str, Any]] = [dict(grant) for grant in values]
    links = list(
        Through.objects.filter(accessrequest_id__in=[g["pk"] for g in page_grants])
        .filter(filters.account_q("awsaccount__"))
        .values_list("accessrequest_id", "awsaccount_id")
    )
    account_ids = {account_id for _grant, account_id in links}
    accounts = list(
        AwsAccount.objects.filter(pk__in=account_ids).order_by(
            "domain", "environment", "quality", "account_id"
        )[: MAX_ACCOUNT_COLUMNS + 1]
    )
    more = len(accounts) > MAX_ACCOUNT_COLUMNS
    accounts = accounts[:MAX_ACCOUNT_COLUMNS]
    column = {account.pk: index for index, account in enumerate(accounts)}
    today = timezone.localdate()
    soon = today + timedelta(days=EXPIRING_DAYS)

    by_grant: dict[int, list[int]] = {}
    for grant_id, account_id in links:
        if account_id in column:
            by_grant.setdefault(grant_id, []).append(column[account_id])
    rows = []
    grants_by_vendor: dict[int, list[dict[str, Any]]] = {}
    # Everything a cell prints is prepared here once per grant: a page can hold thousands of
    # cells, and template tags per cell (url, date) cost more than the page's queries.
    detail_url = reverse("approvals:request_detail", args=[0]).removesuffix("0/")
    in_aws = {
        request_id: (expectation, state)
        for request_id, expectation, state in GrantCheck.objects.filter(
            access_request_id__in=[g["pk"] for g in page_grants]
        ).values_list("access_request_id", "expectation", "state")
    }
    for grant in page_grants:
        expectation, state = in_aws.get(grant["pk"], ("", ""))
        if grant["status"] == AccessRequest.Status.REVOKED:
            grant["aws"] = STILL_HELD
        elif expectation == GrantCheck.Expectation.PRESENT:
            grant["aws"] = AWS_MARKS.get(state, UNVERIFIED)
        else:
            grant["aws"] = UNVERIFIED
        _describe(grant, soon, detail_url)
        grants_by_vendor.setdefault(grant["vendor_id"], []).append(grant)
    for vendor in page.object_list:
        organization_wide = Cell()
        cells = [Cell() for _ in accounts]
        for grant in grants_by_vendor.get(vendor.pk, []):
            if grant["strategy"] in ORGANIZATION_WIDE:
                organization_wide.grants.append(grant)
            for index in by_grant.get(grant["pk"], []):
                cells[index].grants.append(grant)
        rows.append({"vendor": vendor, "organization": organization_wide, "cells": cells})
    return AccessMap(
        page=page,
        accounts=accounts,
        more_accounts=more,
        header_groups=_header_groups(accounts),
        rows=rows,
        today=today,
        unapproved=[
            dict(finding)
            for finding in ExternalAccessFinding.objects.filter(
                status=ExternalAccessFinding.Status.OPEN
            )
            .order_by("account_id", "role_name", "principal")
            .values("principal", "principal_name", "account_id", "role_name")[:UNAPPROVED_ROWS]
        ],
    )


def _describe(grant: dict[str, Any], soon: date, detail_url: str) -> None:
    risk = grant["risk_level"] or "n/a"
    ends = grant["expires_on"].isoformat() if grant["expires_on"] else "never"
    grant["short"] = STRATEGY_SHORT[grant["strategy"]]
    grant["expiring"] = bool(grant["expires_on"] and grant["expires_on"] <= soon)
    aws_class, aws_words = grant["aws"]
    grant["css"] = f"grant risk-{grant['risk_level'] or 'low'} aws-{aws_class}" + (
        " expiring" if grant["expiring"] else ""
    )
    grant["url"] = f"{detail_url}{grant['pk']}/"
    admin = " · admin-equivalent" if grant["admin_equivalent"] else ""
    grant["title"] = (
        f"#{grant['pk']} · {Strategy(grant['strategy']).label} · risk {risk}{admin} · ends {ends}"
        f" · {aws_words}"
    )
    grant["spoken"] = f", risk {risk}, {aws_words}" + (
        ", ends within 30 days" if grant["expiring"] else ""
    )


def _header_groups(accounts: list[AwsAccount]) -> list[list[tuple[str, int]]]:
    """Column header rows (domain, environment, quality) as (label, span) runs."""
    levels: list[list[tuple[str, int]]] = []
    for depth in range(1, 4):
        runs: list[tuple[str, int]] = []
        previous: tuple[str, ...] | None = None
        for account in accounts:
            key = (account.domain, account.environment, account.quality)[:depth]
            if key == previous:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((key[-1] or "-", 1))
                previous = key
        levels.append(runs)
    return levels


def vendor_live_grants(vendor_id: int) -> QuerySet[AccessRequest]:
    """The vendor page's live grants, soonest end first, with how many accounts each reaches
    and when its access key (IAM-user grants) was last used, as the hygiene task last saw."""
    from django.db.models import Count, OuterRef, Subquery

    last_use = (
        AccessKey.objects.filter(access_request=OuterRef("pk"), last_used_at__isnull=False)
        .order_by("-last_used_at")
        .values("last_used_at")[:1]
    )
    return (
        AccessRequest.objects.filter(vendor_id=vendor_id, status__in=LIVE_GRANT_STATES)
        .annotate(account_count=Count("target_accounts"), key_last_used=Subquery(last_use))
        .order_by("expires_on", "pk")
    )
