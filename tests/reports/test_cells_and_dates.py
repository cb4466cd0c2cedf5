"""Spreadsheet-safe cells and the report's dates, without a database."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.cells import csv_cell, neutralise, unneutralise, xlsx_cell
from reports.subprocessors import parse_as_of, previous_quarter_end, quarter_start

pytestmark = pytest.mark.pure

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@given(st.text())
def test_neutralising_is_reversible_and_leaves_no_formula(text):
    safe = neutralise(text)
    assert unneutralise(safe) == text
    assert not safe.startswith(FORMULA_STARTS)


@given(st.text())
def test_xlsx_text_is_never_a_formula_and_holds_no_illegal_character(text):
    value = xlsx_cell(text)
    assert not value.startswith(FORMULA_STARTS)
    assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value)


def test_typed_values_keep_their_types():
    assert csv_cell(None) == ""
    assert csv_cell(True) == "Y"
    assert csv_cell(-5) == "-5"  # a number is not text: no apostrophe
    assert csv_cell(date(2026, 9, 30)) == "2026-09-30"
    assert xlsx_cell(-5) == -5
    assert xlsx_cell(False) == "N"
    assert xlsx_cell(date(2026, 9, 30)) == date(2026, 9, 30)


def test_quarters_and_as_of_parsing():
    assert quarter_start(date(2026, 11, 27)) == date(2026, 10, 1)
    assert previous_quarter_end(date(2026, 11, 27)) == date(2026, 9, 30)
    assert previous_quarter_end(date(2026, 2, 1)) == date(2025, 12, 31)
    assert parse_as_of("2026-09-30") == date(2026, 9, 30)
    assert parse_as_of("2026-09-30T12:00:00+00:00") == datetime.fromisoformat(
        "2026-09-30T12:00:00+00:00"
    )


@pytest.mark.parametrize("text", ["#N/A", "#DIV/0!", "=1+1", "+1", "@SUM(A1)", "plain"])
def test_xlsx_rows_store_every_text_as_text(text):
    """The workbook's rows go to openpyxl as plain values where it types them as the portal
    does; a text it would read as an error value or a formula is still stored as text."""
    import io

    from openpyxl import Workbook, load_workbook

    from reports.renderers import _cells

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("t")
    ws.append(_cells(ws, [text, 3, date(2026, 1, 2), None, text]))
    out = io.BytesIO()
    wb.save(out)
    sheet = load_workbook(io.BytesIO(out.getvalue()))["t"]
    row = next(sheet.iter_rows())
    assert [c.data_type for c in row] == ["s", "n", "d", "n", "s"]
    assert row[0].value == row[4].value == xlsx_cell(text)
