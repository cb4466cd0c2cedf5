"""The subprocessor report as a PDF for the auditor's binder: WeasyPrint, in parts, joined by pypdf.

WeasyPrint lays out a whole document in memory before it writes the first page, so one document
holding a large organization's report (thousands of pages) needs gigabytes and did not finish in
ten minutes. The binder is therefore rendered in parts: the cover, then the vendors and each
appendix `ROWS_PER_PART` rows at a time. Each part is a small document of its own, starting on
a new page, whose page numbers continue from the previous part; pypdf appends its pages to the
output and the outline gets an entry per section. Memory holds one part's layout and the
finished pages' compressed content streams (400 MB at 5,000 vendors, as at 200).

What the PDF prints is what the XLSX holds, condensed for paper: a vendor's AWS access is a line
per live grant (strategy, accounts, permissions, dates, keys) with long account lists cut to
their first `ACCOUNTS_SHOWN` and a count; the full lists, approvers and pull requests are in the
CSV and XLSX and in Appendix A. The data SHA-256 on the cover is the CSV table's.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import IO, Any, NoReturn

from django.template.loader import render_to_string
from django.utils import timezone

from approvals.models import Strategy
from reports.renderers import FULL_TRAIL_NOTE, PARTS
from reports.subprocessors import (
    COLUMNS,
    ORGANIZATION_WIDE,
    Grant,
    ReportParams,
    ReportSummary,
    Row,
    chunks,
    policy_sha256,
    subprocessor_rows,
    tier_state_matrix,
)
from vendors.selectors import ReviewState

# Rows per part: a part is laid out whole in memory, and a few hundred rows make tens of pages.
ROWS_PER_PART = {"reports/pdf/vendors.html": 200, "reports/pdf/appendix.html": 1500}
ACCOUNTS_SHOWN = 4
# Column widths (percent) of the appendices whose columns differ most in what they hold.
WIDTHS = {"requests": (5, 10, 12, 10, 8, 17, 8, 7, 8, 15)}
AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/"
# The approvers' times as the appendix source writes them (ISO 8601, UTC); printed to the minute.
ISO_MOMENT = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?\+00:00")


def write_pdf(
    params: ReportParams,
    summary: ReportSummary,
    out: IO[bytes],
    on_progress: Callable[[str], None] = lambda text: None,
) -> int:
    """Writes the binder (cover, subprocessors, appendices) to `out`; returns its page count.
    `on_progress` is told after each part how far the binder has got, in words.

    The cover states the binder's page count, known only at the end: it is rendered once to
    learn its length, then again with the count and put in front."""
    footer = (
        f"{summary.organization} · subprocessor report as of "
        f"{timezone.localtime(summary.as_of):%Y-%m-%d %H:%M} · data SHA-256 "
        f"{summary.data_sha256[:16]}…"
    )
    base = {"summary": summary, "footer_css": css_string(footer)}
    cover = {**base, "items": summary.header_items(), "chart": _chart(summary), "first_page": 1}
    cover_pages = len(_part_reader("reports/pdf/cover.html", cover).pages)
    binder = _Binder(first_page=cover_pages + 1)
    vendors = (_vendor_facts(row, params) for row in subprocessor_rows(params))
    binder.add_section(
        "reports/pdf/vendors.html",
        base,
        "Subprocessors",
        vendors,
        lambda done: on_progress(f"Subprocessors: {done:,} of {summary.row_count:,} vendors"),
    )
    for name, (title, headers, source) in PARTS.items():
        section = {
            **base,
            "title": title,
            "headers": headers,
            "note": FULL_TRAIL_NOTE if name == "requests" else "",
            "widths": WIDTHS.get(name),
        }
        lines = (tuple(_text(value) for value in line) for line in source(params))
        binder.add_section(
            "reports/pdf/appendix.html",
            section,
            title,
            lines,
            _lines_done(title, on_progress),
        )
    total = cover_pages + len(binder.writer.pages)
    writer = binder.writer
    cover_reader = _part_reader("reports/pdf/cover.html", {**cover, "pages": total})
    if len(cover_reader.pages) != cover_pages:
        # Every later page number would be off: the count must not change the cover's length.
        raise RuntimeError("the cover's length changed when its page count was filled in")
    writer.merge(0, cover_reader, import_outline=False)
    writer.add_outline_item(title="Summary", page_number=0)
    for title, index in binder.outline:
        writer.add_outline_item(title=title, page_number=cover_pages + index)
    writer.add_metadata({"/Title": f"Subprocessor report · {summary.organization}"})
    writer.write(out)
    return len(writer.pages)


def css_string(text: str) -> str:
    """`text` as a quoted CSS string: letters, digits, spaces and a few punctuation marks as
    themselves, every other character as a CSS escape, so that nothing in it can end the
    string, the declaration or the style element."""
    kept = " .,:;-_·…"
    # An escape ends at the first space after its hex digits, which it consumes.
    escaped = "".join(c if c.isalnum() or c in kept else f"\\{ord(c):x} " for c in text)
    return f'"{escaped}"'


def _lines_done(title: str, on_progress: Callable[[str], None]) -> Callable[[int], None]:
    return lambda done: on_progress(f"{title}: {done:,} lines")


def html_pdf(template: str, context: dict[str, Any]) -> bytes:
    """The template rendered as one PDF document by WeasyPrint (small documents: a
    re-certification campaign's evidence, one part of the binder)."""
    from weasyprint import HTML

    html = render_to_string(template, context)
    # Everything the PDF shows is in the HTML; nothing is fetched (no file, no network), so
    # text that reaches the template can never make the renderer read a URL or a local file.
    return bytes(HTML(string=html, url_fetcher=_refuse_fetch).write_pdf())


def _part_reader(template: str, context: dict[str, Any]) -> Any:
    """One part rendered by WeasyPrint, read back by pypdf. (Its own outline, from the part's
    headings, is not imported: the binder's has one entry per section.)"""
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(html_pdf(template, context)))


class _Binder:
    """The pages after the cover, numbered from `first_page`, and where each section starts."""

    def __init__(self, first_page: int) -> None:
        from pypdf import PdfWriter

        self.writer = PdfWriter()
        self.first_page = first_page
        self.outline: list[tuple[str, int]] = []

    def add_section(
        self,
        template: str,
        context: dict[str, Any],
        title: str,
        rows: Iterator[Any],
        on_part: Callable[[int], None],
    ) -> None:
        """A section in parts of `ROWS_PER_PART[template]` rows; the first part has the
        heading (and the outline entry), and an empty section is one part saying so."""
        self.outline.append((title, len(self.writer.pages)))
        opening = True
        done = 0
        for chunk in chunks(rows, ROWS_PER_PART[template]):
            self._add_part(template, {**context, "rows": chunk, "opening": opening})
            opening = False
            done += len(chunk)
            on_part(done)
        if opening:
            self._add_part(template, {**context, "rows": [], "opening": True})

    def _add_part(self, template: str, context: dict[str, Any]) -> None:
        first_page = self.first_page + len(self.writer.pages)
        self.writer.append(
            _part_reader(template, {**context, "first_page": first_page}), import_outline=False
        )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ValueError(f"the report fetches no resources ({url[:40]!r} refused)")


def _text(value: Any) -> str:
    """A cell as the PDF prints it: times to the minute, booleans as Y/N, nothing for None."""
    if value is None:
        return ""
    if value is True:
        return "Y"
    if value is False:
        return "N"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return ISO_MOMENT.sub(r"\1 \2", text) if "+00:00" in text else text


def _vendor_facts(row: Row, params: ReportParams) -> dict[str, list[tuple[str, str]]]:
    """The row's cells grouped as the PDF prints them, one column per group of `COLUMNS`; the
    AWS access group is a line per grant instead of one joined cell per field."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for (group, label), value in zip(COLUMNS, row.cells, strict=True):
        key = group.split()[0].lower()
        text = _text(value)
        if text and key != "aws":
            groups.setdefault(key, []).append((label, text))
    groups["aws"] = [(f"#{grant.pk}", _grant_line(grant, params)) for grant in row.grants] or [
        ("Access", "none")
    ]
    return groups


def _grant_line(grant: Grant, params: ReportParams) -> str:
    parts = [str(Strategy(grant.strategy).label)]
    if grant.strategy in ORGANIZATION_WIDE:
        parts.append(ORGANIZATION_WIDE[grant.strategy])
    else:
        parts.append(_accounts(sorted(grant.account_ids)))
    permissions = [arn.removeprefix(AWS_MANAGED_POLICY) for arn in grant.managed_policy_arns or []]
    if grant.inline_policy:
        permissions.append(f"inline policy sha256:{policy_sha256(grant.inline_policy)[:12]}")
    parts.append(", ".join(permissions) or "role trust only")
    granted = (
        timezone.localtime(grant.activated_at).date().isoformat() if grant.activated_at else "-"
    )
    expires = str(grant.expires_then)[:10] if grant.expires_then else "no end date"
    parts.append(f"{granted} to {expires}")
    for masked_id, used_at, service, region in grant.keys:
        used = (
            f"last used {timezone.localtime(used_at):%Y-%m-%d} {service} {region}".rstrip()
            if used_at
            else "not used"
        )
        parts.append(f"key {masked_id} {used}")
    return " · ".join(parts)


def _accounts(account_ids: Iterable[str]) -> str:
    ids = list(account_ids)
    if not ids:
        return "no account"
    shown = ", ".join(ids[:ACCOUNTS_SHOWN])
    if len(ids) > ACCOUNTS_SHOWN:
        return f"{len(ids)} accounts: {shown} and {len(ids) - ACCOUNTS_SHOWN} more"
    return f"{len(ids)} account{'s' if len(ids) > 1 else ''}: {shown}"


_STATE_COLOURS = {
    "current": "#17622b",
    "due_soon": "#c98a1b",
    "blocking": "#8a4b00",
    "stale": "#b3541e",
    "overdue": "#a3161b",
    "none": "#7a828c",
}


def _chart(summary: ReportSummary) -> dict[str, Any]:
    """Geometry of a horizontal stacked bar chart: vendors by tier and review state."""
    matrix = tier_state_matrix(summary)
    biggest = max([sum(c for _s, _l, c in states) for _t, states in matrix] + [1])
    scale = 420 / biggest
    bars = []
    for index, (tier_label, states) in enumerate(matrix):
        x = 90.0
        segments = []
        for state, label, count in states:
            if count:
                width = count * scale
                segments.append(
                    {
                        "x": x,
                        "width": width,
                        "colour": _STATE_COLOURS[state],
                        "count": count,
                        "label": label,
                    }
                )
                x += width
        total = sum(c for _s, _l, c in states)
        bars.append(
            {
                "y": 10 + index * 34,
                "label": tier_label,
                "segments": segments,
                "total": total,
                "total_x": x + 6,
            }
        )
    legend = [
        {
            "x": 10 + (i % 3) * 170,
            "y": 160 + (i // 3) * 18,
            "colour": _STATE_COLOURS[state],
            "label": str(label),
        }
        for i, (state, label) in enumerate(ReviewState.CHOICES)
    ]
    return {"bars": bars, "legend": legend, "height": 190}
