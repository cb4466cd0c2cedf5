"""`manage.py export_audit_trail --format csv|jsonl [--as-of DATE] -o FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reports.audit_export import FORMATS, audit_chunks, audit_events_until
from reports.subprocessors import parse_as_of, report_params


class Command(BaseCommand):
    help = "Write the audit trail up to a date with each event's hash (verify_audit_export)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument(
            "--as-of",
            type=parse_as_of,
            default=None,
            metavar="DATE",
            help="YYYY-MM-DD (end of that day) or an ISO 8601 time; default: now.",
        )
        parser.add_argument("-o", "--output", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        as_of = report_params(as_of=options["as_of"]).as_of
        output: Path = options["output"]
        with output.open("w", encoding="utf-8", newline="") as handle:
            for chunk in audit_chunks(audit_events_until(as_of=as_of), options["format"]):
                handle.write(chunk)
        self.stdout.write(f"Wrote {output}")
