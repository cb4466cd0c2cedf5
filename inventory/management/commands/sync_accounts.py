"""`manage.py sync_accounts`: pulls the account inventory from AWS Organizations now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inventory.models import AccountSyncRun
from inventory.services import accounts_sync


def describe_run(run: AccountSyncRun) -> list[str]:
    """The lines a person reads after a sync: counts, then each mismatch."""
    lines = [
        f"Account sync #{run.pk} {run.get_status_display().lower()}: "
        f"{run.seen} active account(s) seen, {run.created} new, {run.updated} changed, "
        f"{run.closed} closed or suspended, {run.skipped_suspended} suspended skipped."
    ]
    mismatches = run.mismatches or []
    if mismatches:
        lines.append(f"{len(mismatches)} difference(s) from the Substrate repository and tags:")
        lines.extend(f"  - {m.get('message', m)}" for m in mismatches)
    elif run.status == AccountSyncRun.Status.SUCCEEDED:
        lines.append("The accounts agree with the Substrate repository.")
    return lines


class Command(BaseCommand):
    help = (
        "Syncs the AWS account inventory from AWS Organizations (tags classified as Substrate "
        "does), cross-checks it against the Substrate repository; exits 1 on failure."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run = accounts_sync(actor=None)
        if run.status != AccountSyncRun.Status.SUCCEEDED:
            raise CommandError(f"Account sync #{run.pk} failed: {run.error}", returncode=1)
        for line in describe_run(run):
            self.stdout.write(line)
