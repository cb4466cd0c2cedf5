"""The header every format prints: counts of the rows and the SHA-256 of their CSV form."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from reports.cells import csv_cell
from reports.subprocessors.params import ReportParams
from reports.subprocessors.rows import HEADERS, Row, choice_label, subprocessor_rows
from vendors.models import Tier
from vendors.selectors import ReviewState

DATA_HASH_DOC = (
    "SHA-256 (hex) of the UTF-8 bytes of the CSV export after its first empty line (the table: "
    "column headers, then one line per row; RFC 4180 quoting, CRLF line ends, formula-like "
    "cells prefixed with an apostrophe). Recompute it with: "
    "sed '1,/^\\r$/d' report.csv | sha256sum"
)


class _HashingSink:
    """A file-like object for csv.writer that hashes what is written and keeps nothing, or
    passes it on to `copy_to`."""

    def __init__(self, copy_to: IO[str] | None = None) -> None:
        self.digest = hashlib.sha256()
        self.copy_to = copy_to

    def write(self, text: str) -> int:
        self.digest.update(text.encode("utf-8"))
        if self.copy_to is not None:
            self.copy_to.write(text)
        return len(text)


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (CRLF-terminated) with neutralised cells: the bytes the hash covers."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(v) for v in values])
    return buffer.getvalue()


@dataclass
class ReportSummary:
    """The header of every format."""

    organization: str
    as_of: datetime
    period_start: date
    period_end: date
    app_version: str
    filters: str
    generated_at: datetime
    row_count: int = 0
    data_sha256: str = ""
    by_tier: dict[str, int] = field(default_factory=dict)
    by_tier_and_state: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue_reviews: int = 0
    stale_soc_reports: int = 0
    missing_dpa: int = 0
    open_exceptions: int = 0
    unmapped_cuecs: int = 0
    live_grants: int = 0
    grants_past_expiry: int = 0

    def header_items(self) -> list[tuple[str, Any]]:
        """(label, value) pairs, in the order every format prints them."""
        return [
            ("Report", "Subprocessor report (SOC 2 CC9.2)"),
            ("Organization", self.organization),
            ("As of (UTC)", self.as_of.astimezone(UTC).isoformat(timespec="seconds")),
            ("Period", f"{self.period_start.isoformat()} to {self.period_end.isoformat()}"),
            ("App version", self.app_version),
            ("Filters", self.filters),
            ("Generated at (UTC)", self.generated_at.astimezone(UTC).isoformat(timespec="seconds")),
            ("Row count", self.row_count),
            ("Data SHA-256", self.data_sha256),
            ("Data SHA-256 covers", DATA_HASH_DOC),
            *[
                (f"Vendors, tier {choice_label(Tier, t)}", self.by_tier.get(t, 0))
                for t in Tier.values
            ],
            ("Reviews overdue", self.overdue_reviews),
            ("SOC reports older than 12 months", self.stale_soc_reports),
            ("Missing DPA", self.missing_dpa),
            ("Open exceptions", self.open_exceptions),
            ("Unmapped CUECs", self.unmapped_cuecs),
            ("Active vendor AWS grants", self.live_grants),
            ("Grants past expiry", self.grants_past_expiry),
        ]


def app_version() -> str:
    try:
        return metadata.version("accessportal")
    except metadata.PackageNotFoundError:
        return "development"


def report_summary(
    params: ReportParams,
    table_out: IO[str] | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> ReportSummary:
    """Walks the rows once: counts, and the SHA-256 of their CSV form (`DATA_HASH_DOC`). With
    `table_out`, that CSV form (the hashed text) is also written there, and `on_row` is given
    each row, so an export that writes the table as it goes needs no second walk."""
    summary = ReportSummary(
        organization=settings.PORTAL_ORGANIZATION_NAME,
        as_of=params.as_of,
        period_start=params.period_start,
        period_end=params.as_of_date,
        app_version=app_version(),
        filters=params.filters_text,
        generated_at=timezone.now(),
    )
    sink = _HashingSink(table_out)
    writer = csv.writer(sink)
    writer.writerow([csv_cell(h) for h in HEADERS])
    tiers: Counter[str] = Counter()
    grid: dict[str, Counter[str]] = {t: Counter() for t in Tier.values}
    for row in subprocessor_rows(params):
        writer.writerow([csv_cell(v) for v in row.cells])
        if on_row is not None:
            on_row(row)
        summary.row_count += 1
        tiers[row.tier] += 1
        grid.setdefault(row.tier, Counter())[row.review_state] += 1
        summary.overdue_reviews += row.review_state == ReviewState.OVERDUE
        summary.stale_soc_reports += row.soc_stale
        summary.missing_dpa += row.missing_dpa
        summary.open_exceptions += row.open_exceptions
        summary.unmapped_cuecs += row.unmapped_cuecs
        summary.live_grants += row.live_grants
        summary.grants_past_expiry += row.grants_past_expiry
    summary.data_sha256 = sink.digest.hexdigest()
    summary.by_tier = dict(tiers)
    summary.by_tier_and_state = {t: dict(c) for t, c in grid.items()}
    return summary
