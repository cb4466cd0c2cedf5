"""`manage.py verify_audit_log`: re-checks the audit log's hash chain (DESIGN.md section 8)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_verify


class Command(BaseCommand):
    help = "Re-checks the audit log's hash chain; exits 1 and names the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_verify()
        if not result.ok:
            # CommandError prints to stderr and exits with returncode from the command line.
            raise CommandError(
                f"Audit log broken at sequence {result.first_broken_sequence}: {result.reason}. "
                f"{result.checked} event(s) checked before the break.",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {result.checked} events checked."))
        if options["verbosity"] >= 2 and result.last_hash:
            # An anchor for outside records: a rewritten tail would change it.
            self.stdout.write(f"Last event: sequence {result.checked}, hash {result.last_hash}")
