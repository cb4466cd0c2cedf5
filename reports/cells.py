"""Cell values that are safe in a spreadsheet: no formulas, no characters XLSX refuses.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some programs, a tab or
carriage return) as a formula, so a vendor named `=HYPERLINK(...)` could run in an auditor's
Excel (CSV/formula injection, OWASP). Such text is prefixed with an apostrophe, which every
spreadsheet shows as text. A value that already starts with an apostrophe gets one more, so the
change is reversible: `unneutralise` gives back the exact original (the audit-trail verifier
relies on that to recompute hashes).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
# XML 1.0 refuses these control characters; openpyxl raises on them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise(text: str) -> str:
    """`text` with a leading apostrophe when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unneutralise(text: str) -> str:
    """The inverse of `neutralise`."""
    return text[1:] if text.startswith("'") else text


def csv_cell(value: Any) -> str:
    """The text of one CSV cell: dates in ISO 8601, booleans as Y/N, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    return neutralise(str(value))


def xlsx_cell(value: Any) -> Any:
    """A typed XLSX value: numbers and dates stay typed, text is neutralised and cleaned."""
    if value is None or isinstance(value, int | float | date):
        if isinstance(value, bool):
            return "Y" if value else "N"
        if isinstance(value, datetime) and value.tzinfo is not None:
            # Excel has no time zones: the report states that times are UTC.
            return value.replace(tzinfo=None)
        return value
    return _XML_ILLEGAL.sub("\ufffd", neutralise(str(value)))
