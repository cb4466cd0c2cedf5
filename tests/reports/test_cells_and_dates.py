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
