"""`manage.py verify_audit_export FILE`: the offline verifier, from the portal's shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.verify_export import describe, verify_file


class Command(BaseCommand):
    help = (
        "Recompute every hash of an audit-trail export (.csv or .jsonl) and check the chain. "
        "The same check runs without the portal: python reports/verify_export.py FILE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--expect-last-hash", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = verify_file(options["file"], expect_last_hash=options["expect_last_hash"])
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"cannot read {options['file']}: {error}") from None
        if not result.ok:
            raise CommandError(describe(result))
        self.stdout.write(describe(result))
