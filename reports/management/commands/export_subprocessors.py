"""`manage.py export_subprocessors --format csv|xlsx|pdf --as-of DATE -o FILE`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports import renderers
from reports.pdf import write_pdf
from reports.subprocessors import parse_as_of, report_params, report_summary


class Command(BaseCommand):
    help = (
        "Write the SOC 2 subprocessor report as of a date (default: now), from the audit log. "
        "CSV holds one table: --part picks the main table or an appendix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=("csv", "xlsx", "pdf"), required=True)
        parser.add_argument(
            "--as-of",
            type=parse_as_of,
            default=None,
            metavar="DATE",
            help="YYYY-MM-DD (end of that day) or an ISO 8601 time; default: now.",
        )
        parser.add_argument(
            "--period-start",
            type=date.fromisoformat,
            default=None,
            metavar="YYYY-MM-DD",
            help="First day of the period covered (default: the as-of date's quarter).",
        )
        parser.add_argument("--tier", default="")
        parser.add_argument("--status", default="", help="active or offboarded (default: both)")
        parser.add_argument("--part", choices=renderers.CSV_PARTS, default="table")
        parser.add_argument("-o", "--output", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = report_params(
                as_of=options["as_of"],
                period_start=options["period_start"],
                tier=options["tier"],
                status=options["status"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        output: Path = options["output"]
        fmt = options["format"]
        if fmt == "csv":
            summary, chunks = renderers.csv_export(params, options["part"])
            with output.open("w", encoding="utf-8", newline="") as handle:
                for chunk in chunks:
                    handle.write(chunk)
        elif fmt == "xlsx":
            with output.open("wb") as binary:
                summary = renderers.write_xlsx(params, binary)
        else:
            summary = report_summary(params)
            with output.open("wb") as binary:
                write_pdf(params, summary, binary)
        self.stdout.write(
            f"Wrote {output} ({summary.row_count} vendors, data SHA-256 {summary.data_sha256})"
        )
