#!/usr/bin/env python3
"""Verifies an audit-trail export offline, with the Python standard library only.

Usage: python verify_export.py FILE [--expect-last-hash HEX]

FILE is a JSON-lines (.jsonl) or CSV (.csv) audit-trail export from the portal. For every
event the script recomputes the SHA-256 the portal stored and checks that the events form an
unbroken chain: consecutive sequence numbers, each `prev_hash` equal to the previous event's
`hash`, and the first event of a full export linking to the genesis hash (64 zeros). It prints
the number of events and the last hash; compare that hash with the chain head the portal shows
on its Reports page (or `manage.py verify_audit_log`) at export time, or pass it with
--expect-last-hash. Exit status 0 when intact, 1 when not, 2 on unreadable input.

How an event's hash is computed (the same definition as the portal's `audit_event_hash`):
SHA-256 (hex) of the UTF-8 bytes of `json.dumps(fields, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` where `fields` holds sequence, created_at (UTC ISO 8601 with
microseconds, as exported), actor_id, actor_username, source_ip, action, object_type,
object_id, object_repr, before, after and prev_hash; `hash` itself is left out. In the CSV
form, empty actor_id / source_ip / before / after cells mean null, before / after hold JSON,
and a cell that begins with an apostrophe had one added (formula neutralisation): drop it.

This file is self-contained on purpose: copy it anywhere and run it; it imports nothing from
the portal.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "sequence",
    "created_at",
    "actor_id",
    "actor_username",
    "source_ip",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "prev_hash",
)
EXPORT_FIELDS = (*HASHED_FIELDS, "hash")


@dataclass(frozen=True)
class ExportVerification:
    ok: bool
    checked: int
    first_sequence: int | None = None
    last_hash: str | None = None
    problem: str | None = None
    starts_mid_chain: bool = False


def event_hash(event: dict[str, Any]) -> str:
    """The SHA-256 of one exported event's hashed fields."""
    fields = {name: event[name] for name in HASHED_FIELDS}
    payload = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _from_csv_cell(name: str, text: str) -> Any:
    if text.startswith("'"):
        text = text[1:]  # the export's formula neutralisation, undone
    if name == "sequence":
        return int(text)
    if name in ("actor_id",):
        return int(text) if text else None
    if name == "source_ip":
        return text or None
    if name in ("before", "after"):
        return json.loads(text) if text else None
    return text


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a .jsonl or .csv export, one at a time (constant memory)."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != EXPORT_FIELDS:
                raise ValueError(f"the CSV header must be {','.join(EXPORT_FIELDS)}")
            for record in reader:
                if record:
                    yield {n: _from_csv_cell(n, v) for n, v in zip(header, record, strict=True)}
        else:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    event = json.loads(line)
                    if not isinstance(event, dict) or set(event) != set(EXPORT_FIELDS):
                        raise ValueError(f"line {number} is not an exported audit event")
                    yield event


def verify_events(events: Iterator[dict[str, Any]]) -> ExportVerification:
    """Checks every event's hash and the links between consecutive events."""
    checked = 0
    first: int | None = None
    previous_sequence: int | None = None
    previous_hash: str | None = None
    mid_chain = False
    for event in events:
        sequence = event["sequence"]
        if first is None:
            first = sequence
            if sequence == 1 and event["prev_hash"] != GENESIS_HASH:
                return ExportVerification(
                    False, checked, first, None, "event 1 does not link to the genesis hash"
                )
            mid_chain = sequence != 1
        elif sequence != previous_sequence + 1:  # type: ignore[operator]
            return ExportVerification(
                False,
                checked,
                first,
                previous_hash,
                f"sequence {previous_sequence} is followed by {sequence} (events missing)",
            )
        elif event["prev_hash"] != previous_hash:
            return ExportVerification(
                False,
                checked,
                first,
                previous_hash,
                f"event {sequence} does not link to event {previous_sequence}",
            )
        if event_hash(event) != event["hash"]:
            return ExportVerification(
                False,
                checked,
                first,
                previous_hash,
                f"event {sequence} does not match its hash (changed after it was written)",
            )
        checked += 1
        previous_sequence, previous_hash = sequence, event["hash"]
    return ExportVerification(True, checked, first, previous_hash, None, mid_chain)


def verify_file(path: Path, *, expect_last_hash: str | None = None) -> ExportVerification:
    result = verify_events(read_events(path))
    if result.ok and expect_last_hash and result.last_hash != expect_last_hash.lower():
        return ExportVerification(
            False,
            result.checked,
            result.first_sequence,
            result.last_hash,
            f"the last hash is {result.last_hash}, not the expected {expect_last_hash}",
        )
    return result


def describe(result: ExportVerification) -> str:
    if not result.ok:
        return f"BROKEN after {result.checked} good events: {result.problem}"
    if not result.checked:
        return "OK: the export holds no events"
    start = (
        f"; starts at sequence {result.first_sequence} (links to earlier events not checked)"
        if result.starts_mid_chain
        else ""
    )
    return f"OK: {result.checked} events intact, last hash {result.last_hash}{start}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a portal audit-trail export offline.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--expect-last-hash", default=None)
    args = parser.parse_args(argv)
    try:
        result = verify_file(args.file, expect_last_hash=args.expect_last_hash)
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    print(describe(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
