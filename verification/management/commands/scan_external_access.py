"""`manage.py scan_external_access`: every account's roles scanned for outside principals."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from verification.findings import external_access_scan
from verification.models import ExternalAccessFinding, VerificationRun

# Exit codes: 0 every outside principal is approved or decided; 1 some access nobody approved
# (an open finding); 2 some account could not be read and nothing is open (never guessed).
UNAPPROVED, UNREADABLE = 1, 2


def describe_finding(finding: ExternalAccessFinding) -> str:
    name = f" ({finding.principal_name})" if finding.principal_name else ""
    external_id = "ExternalId required" if finding.external_id_required else "no ExternalId"
    return (
        f"    {finding.get_status_display()}: {finding.principal}{name} -> role "
        f"{finding.role_name}, {external_id}"
    )


class Command(BaseCommand):
    help = (
        "Lists every role of every account in the inventory with its trust policy, through each "
        "account's audit role, and prints the principals outside the organization; exits 1 on "
        "access nobody approved, 2 when an account could not be read."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        run = VerificationRun.objects.create(kind=VerificationRun.Kind.SCAN, trigger="command")
        result = external_access_scan(run)
        for account in result.accounts:
            if account.unreadable is not None:
                self.stdout.write(
                    f"{account.account_id} not readable ({account.unreadable.reason}: "
                    f"{account.unreadable.message}); its findings are left as they were"
                )
                continue
            outside = [
                f for f in account.findings if f.status != ExternalAccessFinding.Status.RESOLVED
            ]
            self.stdout.write(
                f"{account.account_id} {account.roles} role(s), {len(outside)} outside principal(s)"
            )
            for finding in outside:
                self.stdout.write(describe_finding(finding))
        if result.analyzer_error:
            self.stdout.write(f"IAM Access Analyzer not read: {result.analyzer_error}")
        opened = result.open_findings
        self.stdout.write(
            f"{len(result.accounts)} account(s) scanned: {len(opened)} unapproved, "
            f"{len(result.unreadable)} not readable."
        )
        if opened:
            sys.exit(UNAPPROVED)
        if result.unreadable:
            sys.exit(UNREADABLE)
