"""The report's parameters: the as-of instant, the period before it, and the filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from vendors.models import Tier, Vendor


@dataclass(frozen=True)
class ReportParams:
    """What a report covers: the as-of instant, the period before it, and filters."""

    as_of: datetime
    period_start: date
    tier: str = ""
    status: str = ""

    @property
    def as_of_date(self) -> date:
        return timezone.localtime(self.as_of).date()

    @property
    def filters_text(self) -> str:
        parts = [
            f"tier={self.tier}" if self.tier else "",
            f"status={self.status}" if self.status else "",
        ]
        return ", ".join(p for p in parts if p) or "none"


def report_params(
    *,
    as_of: date | datetime | None = None,
    period_start: date | None = None,
    tier: str = "",
    status: str = "",
) -> ReportParams:
    """Builds the parameters: a date means the end of that day in the portal's time zone, and
    the period starts by default on the first day of the as-of date's calendar quarter."""
    if as_of is None:
        instant = timezone.now()
    elif isinstance(as_of, datetime):
        instant = as_of if timezone.is_aware(as_of) else timezone.make_aware(as_of)
    else:
        instant = timezone.make_aware(datetime.combine(as_of, time.max))
    instant = min(instant, timezone.now())
    day = timezone.localtime(instant).date()
    if period_start is None:
        period_start = quarter_start(day)
    if period_start > day:
        raise ValueError("the period must start on or before the as-of date")
    if tier and tier not in Tier.values:
        raise ValueError(f"unknown tier {tier!r}")
    if status and status not in Vendor.Status.values:
        raise ValueError(f"unknown status {status!r}")
    return ReportParams(as_of=instant, period_start=period_start, tier=tier, status=status)


def quarter_start(day: date) -> date:
    """The first day of `day`'s calendar quarter."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def previous_quarter_end(day: date) -> date:
    """The last day of the calendar quarter before `day`'s (auditors' usual as-of date)."""
    return quarter_start(day) - timedelta(days=1)


def parse_as_of(text: str) -> date | datetime:
    """A date (YYYY-MM-DD: the end of that day) or an ISO 8601 date and time."""
    text = text.strip()
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
