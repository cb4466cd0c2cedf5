"""IAM policy documents as JSON: trust statements, and statement-level edits of existing files.

JSON is only ever produced by `json.dumps`. Existing files (the two
`substrate.*.assume-role-policy.json` documents humans also edit) are changed as text, one
array element at a time, so every byte outside the inserted or removed statement is kept:
other people's statements, their key order, spacing and indentation. Adding a statement and
removing it again gives back the original text exactly.

Vendor statements follow SUBSTRATE.md section 1: no `Sid` (Substrate <= 2023.04 drops it) and
scalar condition values (Substrate <= 2023.02 only decodes `map[string]map[string]string`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import LayoutError

VERSION = "2012-10-17"
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

# AWS's default quota for a role trust policy, whitespace not counted (IAM quotas).
TRUST_POLICY_DEFAULT_QUOTA = 2048
# A rough size of the statements Substrate itself puts in front of the file's statements
# (Administrator/Substrate roles and user, ec2.amazonaws.com): used for warnings only.
SUBSTRATE_CANONICAL_ESTIMATE = 600


def vendor_trust_statement(principals: Iterable[str], external_id: str) -> dict[str, Any]:
    """The statement letting the vendor's principals assume a role, with their external id."""
    return {
        "Effect": "Allow",
        "Principal": {"AWS": list(principals)},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }


def principal_trust_statement(arn: str) -> dict[str, Any]:
    """A statement trusting one of our own principals (hub role, portal IAM user)."""
    return {"Effect": "Allow", "Principal": {"AWS": [arn]}, "Action": "sts:AssumeRole"}


def document(statements: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A complete policy document."""
    return {"Version": VERSION, "Statement": list(statements)}


def document_text(statements: Iterable[dict[str, Any]]) -> str:
    """The text of a new policy file: two-space indented JSON and a final newline."""
    return json.dumps(document(statements), indent=2) + "\n"


def minified_length(value: Any) -> int:
    """Length of `value` as JSON without whitespace, which is what IAM quotas count."""
    return len(json.dumps(value, separators=(",", ":")))


@dataclass(frozen=True)
class StatementArray:
    """Where the `Statement` array and each of its elements sit in a document's text."""

    lb: int  # index of "["
    rb: int  # index of "]"
    spans: tuple[tuple[int, int], ...]
    values: tuple[Any, ...]


def _skip(text: str, index: int) -> int:
    match = _WS.match(text, index)
    return index if match is None else match.end()  # never None: the pattern matches ''


def _expect(text: str, index: int, char: str, path: str) -> None:
    if index >= len(text) or text[index] != char:
        raise LayoutError(f"{path}: expected {char!r} at offset {index}")


def _decode(text: str, index: int, path: str) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as exc:
        raise LayoutError(f"{path}: invalid JSON: {exc}") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key in object: {keys}")
    return dict(pairs)


def check_document(text: str, path: str) -> dict[str, Any]:
    """Parses a trust-policy file and checks that Substrate's parser would accept it.

    Refuses what Substrate rejects or silently drops (SUBSTRATE.md section 1): a top level
    that is not an object, a `Statement` that is not an array, `"Principal": "*"`. Duplicate
    keys are refused too, because then "the" Statement array is ambiguous.
    """
    if text.startswith("\ufeff"):
        raise LayoutError(f"{path}: starts with a byte-order mark, which Go's JSON rejects")
    try:
        doc = json.loads(text, object_pairs_hook=_reject_duplicates)
    except ValueError as exc:
        raise LayoutError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise LayoutError(f"{path}: a policy document is a JSON object")
    statements = doc.get("Statement")
    if not isinstance(statements, list):
        raise LayoutError(f"{path}: Substrate needs a Statement array")
    for number, statement in enumerate(statements):
        if not isinstance(statement, dict):
            raise LayoutError(f"{path}: statement {number} is not an object")
        if "Principal" in statement and not isinstance(statement["Principal"], dict):
            raise LayoutError(f"{path}: statement {number} has a Principal Substrate rejects")
    return doc


def locate_statements(text: str, path: str) -> StatementArray:
    """Finds the top-level `Statement` array of `text` (already checked by `check_document`)."""
    index = _skip(text, 0)
    _expect(text, index, "{", path)
    index = _skip(text, index + 1)
    found: StatementArray | None = None
    if text[index] == "}":
        raise LayoutError(f"{path}: no Statement array")
    while True:
        key, index = _decode(text, index, path)
        index = _skip(text, index)
        _expect(text, index, ":", path)
        index = _skip(text, index + 1)
        if key == "Statement":
            _expect(text, index, "[", path)
            lb = index
            spans: list[tuple[int, int]] = []
            values: list[Any] = []
            index = _skip(text, index + 1)
            if text[index] != "]":
                while True:
                    start = index
                    value, index = _decode(text, index, path)
                    spans.append((start, index))
                    values.append(value)
                    index = _skip(text, index)
                    if text[index] == ",":
                        index = _skip(text, index + 1)
                        continue
                    _expect(text, index, "]", path)
                    break
            found = StatementArray(lb, index, tuple(spans), tuple(values))
            index += 1
        else:
            _, index = _decode(text, index, path)
        index = _skip(text, index)
        if text[index] == ",":
            index = _skip(text, index + 1)
            continue
        _expect(text, index, "}", path)
        break
    if found is None:
        raise LayoutError(f"{path}: no Statement array")
    return found


def _line_indent(text: str, index: int) -> tuple[str, bool]:
    """Leading whitespace of the line holding `index`, and whether only whitespace precedes it."""
    line_start = text.rfind("\n", 0, index) + 1
    prefix = text[line_start:index]
    stripped = prefix.lstrip(" \t")
    return prefix[: len(prefix) - len(stripped)], stripped == ""


def _render_indented(statement: dict[str, Any], indent: str, unit: str) -> str:
    rendered = json.dumps(statement, indent=unit)
    return rendered.replace("\n", "\n" + indent)


def add_statement(text: str, statement: dict[str, Any], path: str) -> str:
    """Appends `statement` to the document's Statement array, keeping all other text.

    The new element copies the style of the last existing one (indentation, one statement
    per line or pretty-printed); an already present equal statement is not added twice.
    """
    check_document(text, path)
    array = locate_statements(text, path)
    if statement in array.values:
        return text
    if not array.spans:
        base, _ = _line_indent(text, array.lb)
        unit = "\t" if base.startswith("\t") else "  "
        inner = base + unit
        insert = "\n" + inner + _render_indented(statement, inner, unit) + "\n" + base
        return text[: array.lb + 1] + insert + text[array.rb :]
    start, end = array.spans[-1]
    indent, own_line = _line_indent(text, start)
    element = text[start:end]
    if own_line and "\n" in element:
        second = element.split("\n", 2)[1]
        inner = second[: len(second) - len(second.lstrip(" \t"))]
        unit = inner[len(indent) :] if inner.startswith(indent) and inner != indent else "  "
        insert = ",\n" + indent + _render_indented(statement, indent, unit)
    elif own_line:
        insert = ",\n" + indent + json.dumps(statement)
    else:
        insert = ", " + json.dumps(statement)
    return text[:end] + insert + text[end:]


def remove_statement(text: str, statement: dict[str, Any], path: str) -> str:
    """Removes every element equal to `statement`; the inverse of `add_statement`."""
    check_document(text, path)
    while True:
        array = locate_statements(text, path)
        if statement not in array.values:
            return text
        index = array.values.index(statement)
        if len(array.spans) == 1:
            text = text[: array.lb + 1] + text[array.rb :]
        elif index == 0:
            text = text[: array.spans[0][0]] + text[array.spans[1][0] :]
        else:
            text = text[: array.spans[index - 1][1]] + text[array.spans[index][1] :]


def is_pristine_empty(text: str) -> bool:
    """True if `text` is exactly what removing the last statement from a file we created gives.

    Revocation deletes such a file instead of leaving an empty document behind, so that a
    grant followed by its revocation restores the tree exactly.
    """
    return text == document_text([])
