"""The subprocessor report as CSV (streamed) and XLSX (openpyxl, write-only); the PDF is `pdf.py`.

The CSV export (`csv_export`) and the XLSX (`write_xlsx`) walk the rows once, writing the table
as `report_summary` computes the header (the CSV keeps it in a spooled temporary file until the
header is known); memory stays constant for both. The CSV holds one table; its `part` picks the
main table or one appendix. XLSX has one sheet per appendix; the PDF has them all. Their
Appendix A has one line per request; the CSV also has the full trail (every event), which only
a streamed format handles at scale.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from reports.cells import csv_cell, xlsx_cell
from reports.subprocessors import (
    APPENDIX_A,
    APPENDIX_A_SUMMARY,
    APPENDIX_B,
    APPENDIX_C,
    COLUMNS,
    HEADERS,
    ReportParams,
    ReportSummary,
    approval_trail,
    changes_in_period,
    csv_line,
    exceptions_register,
    report_summary,
    request_summaries,
    subprocessor_rows,
    tier_state_matrix,
)

# part name -> (title, column headers, rows): the appendices of the XLSX and the PDF.
PARTS: dict[
    str, tuple[str, tuple[str, ...], Callable[[ReportParams], Iterator[tuple[Any, ...]]]]
] = {
    "requests": ("Appendix A - Approval trail", APPENDIX_A_SUMMARY, request_summaries),
    "changes": ("Appendix B - Changes in the period", APPENDIX_B, changes_in_period),
    "exceptions": ("Appendix C - Exceptions register", APPENDIX_C, exceptions_register),
}
# The CSV also has every event of Appendix A's requests: a CSV part streams at any size, while
# a workbook or a PDF of the hundreds of thousands of events of a large organization's live
# grants would not finish (and nobody would read it there).
CSV_APPENDICES = {
    "approval-trail": ("Appendix A - Approval trail, every event", APPENDIX_A, approval_trail),
    **PARTS,
}
CSV_PARTS = ("table", *CSV_APPENDICES)
# What the XLSX and PDF say under Appendix A.
FULL_TRAIL_NOTE = (
    "One line per request. Every event of these requests (actor, action, status change, "
    "comment) is in the CSV export's approval-trail part and in the audit trail export "
    "(Reports, Audit trail, CSV or JSONL)."
)
FLUSH_BYTES = 64 * 1024
SPOOL_BYTES = 4 * 1024 * 1024


def _table_rows(params: ReportParams) -> Iterator[tuple[Any, ...]]:
    for row in subprocessor_rows(params):
        yield tuple(row.cells)


def _csv_header_block(summary: ReportSummary, part: str) -> str:
    """The header as label,value lines, the part's title for an appendix, then a blank line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for label, value in summary.header_items():
        writer.writerow([csv_cell(label), csv_cell(value)])
    if part != "table":
        writer.writerow(["Part", csv_cell(CSV_APPENDICES[part][0])])
    writer.writerow([])
    return buffer.getvalue()


def csv_chunks(params: ReportParams, summary: ReportSummary, part: str = "table") -> Iterator[str]:
    """The CSV text in chunks of about 64 kB: the header as label,value lines, a blank line,
    then the table (the bytes `summary.data_sha256` covers, for the main table)."""
    if part not in CSV_PARTS:
        raise ValueError(f"unknown part {part!r}")
    buffer = io.StringIO()
    buffer.write(_csv_header_block(summary, part))
    if part == "table":
        headers: tuple[str, ...] = HEADERS
        rows = _table_rows(params)
    else:
        _title, headers, source = CSV_APPENDICES[part]
        rows = source(params)
    buffer.write(csv_line(headers))
    for row in rows:
        buffer.write(csv_line(row))
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_export(params: ReportParams, part: str = "table") -> tuple[ReportSummary, Iterator[str]]:
    """The summary and the CSV chunks. The main table's header holds the rows' hash and counts,
    so rather than walking the rows twice (once for the header, once for the table) the one walk
    writes the table to a spooled temporary file (memory up to `SPOOL_BYTES`, then disk), and the
    chunks are the header followed by that file."""
    if part not in CSV_PARTS:
        raise ValueError(f"unknown part {part!r}")
    if part != "table":
        summary = report_summary(params)
        return summary, csv_chunks(params, summary, part)
    table = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by _spooled_chunks
        max_size=SPOOL_BYTES, mode="w+", encoding="utf-8", newline=""
    )
    try:
        summary = report_summary(params, table_out=table)
    except BaseException:
        table.close()
        raise
    return summary, _spooled_chunks(summary, table)


def _spooled_chunks(summary: ReportSummary, table: IO[str]) -> Iterator[str]:
    try:
        yield _csv_header_block(summary, "table")
        table.seek(0)
        while chunk := table.read(FLUSH_BYTES):
            yield chunk
    finally:
        table.close()


# --- XLSX ---------------------------------------------------------------------------------------

_BOLD = Font(bold=True)
_HEAD_FILL = PatternFill("solid", fgColor="DCE6F1")
_WRAP = Alignment(wrap_text=True, vertical="top")


def _head(ws: Any, values: tuple[str, ...]) -> list[Any]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value=xlsx_cell(value))
        cell.font = _BOLD
        cell.fill = _HEAD_FILL
        cell.alignment = _WRAP
        cells.append(cell)
    return cells


def _cells(ws: Any, values: tuple[Any, ...] | list[Any]) -> list[Any]:
    """The row's values for `ws.append`, as plain values where openpyxl's own typing stores them
    as they are: a write-only sheet then reuses one cell object per row instead of making one per
    value (a few per cent of the workbook's time, measured at 500 vendors). Text is stored as
    text whatever it looks like: after `xlsx_cell` it never starts with "=" (the one prefix
    openpyxl reads as a formula), and the few texts it would store as error values ("#N/A") get
    a cell typed as text."""
    result: list[Any] = []
    for value in values:
        typed = xlsx_cell(value.astimezone(UTC) if isinstance(value, datetime) else value)
        if isinstance(typed, str) and (typed.startswith("=") or typed in ERROR_CODES):
            cell = WriteOnlyCell(ws, value=typed)
            cell.data_type = "s"
            result.append(cell)
        else:
            result.append(typed)
    return result


def _start_table_sheet(
    wb: Workbook,
    title: str,
    headers: tuple[str, ...],
    widths: dict[int, int] | None = None,
    note: str = "",
) -> tuple[Any, int]:
    """A sheet with its column widths, frozen panes, optional note and column headers: (the
    sheet, the row number of its headers)."""
    ws = wb.create_sheet(title[:31])
    for index in range(1, len(headers) + 1):
        ws.column_dimensions[get_column_letter(index)].width = (widths or {}).get(index, 22)
    # A note goes on the first line, above the column headers (which the filter then starts at).
    head_row = 2 if note else 1
    ws.freeze_panes = f"{'B' if len(headers) > 8 else 'A'}{head_row + 1}"
    if note:
        ws.append(_cells(ws, [note]))
    ws.append(_head(ws, headers))
    return ws, head_row


def _filter(ws: Any, headers: tuple[str, ...], head_row: int, count: int) -> None:
    ws.auto_filter.ref = f"A{head_row}:{get_column_letter(len(headers))}{count + head_row}"


def _table_sheet(
    wb: Workbook,
    title: str,
    headers: tuple[str, ...],
    rows: Iterator[tuple[Any, ...]] | Iterator[list[Any]],
    note: str = "",
) -> None:
    ws, head_row = _start_table_sheet(wb, title, headers, note=note)
    count = 0
    for row in rows:
        ws.append(_cells(ws, row))
        count += 1
    _filter(ws, headers, head_row, count)


def write_xlsx(params: ReportParams, out: IO[bytes]) -> ReportSummary:
    """Writes the workbook (Summary, Subprocessors, then one sheet per appendix) and returns its
    summary. The Subprocessors sheet is written in the walk that computes the summary (each
    write-only sheet streams to a file of its own, so the Summary sheet, first in the workbook,
    is filled afterwards)."""
    wb = Workbook(write_only=True)
    summary_sheet = wb.create_sheet("Summary")
    summary_sheet.column_dimensions["A"].width = 34
    summary_sheet.column_dimensions["B"].width = 90
    widths = {i + 1: 34 for i, (_g, label) in enumerate(COLUMNS) if label in _WIDE}
    table, head_row = _start_table_sheet(wb, "Subprocessors", HEADERS, widths)
    summary = report_summary(params, on_row=lambda row: table.append(_cells(table, row.cells)))
    _filter(table, HEADERS, head_row, summary.row_count)

    for label, value in summary.header_items():
        label_cell = WriteOnlyCell(summary_sheet, value=xlsx_cell(label))
        label_cell.font = _BOLD
        summary_sheet.append([label_cell, *_cells(summary_sheet, [value])])
    summary_sheet.append([])
    summary_sheet.append(
        _head(summary_sheet, ("Tier", *[s for s, _l, _c in tier_state_matrix(summary)[0][1]]))
    )
    for tier_label, states in tier_state_matrix(summary):
        summary_sheet.append(_cells(summary_sheet, [tier_label, *[c for _s, _l, c in states]]))

    for name, (title, headers, source) in PARTS.items():
        _table_sheet(
            wb,
            title.replace("Appendix ", "").replace(" - ", " "),
            headers,
            source(params),
            note=FULL_TRAIL_NOTE if name == "requests" else "",
        )
    # `out` must be seekable (a file or a temporary file): the XLSX container is a zip.
    wb.save(out)
    return summary


_WIDE = {"Purpose of processing", "Accounts", "Permissions", "Evidence files", "Approvers"}
