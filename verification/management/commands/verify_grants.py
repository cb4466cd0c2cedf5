"""`manage.py verify_grants [--request N]`: reads merged grants back from AWS now."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from verification.grants import verifiable_requests, verify_grants
from verification.models import GrantCheck, VerificationRun
from verification.truth import truths_for

# Exit codes: 0 every grant is as approved (or, once revoked, gone); 1 drift (a grant that
# differs, or a removal that merged while AWS still holds it); 2 some account could not be
# read and nothing drifted (never guessed as fine).
DRIFT, UNREADABLE = 1, 2
_DRIFT_TRUTHS = {"drifted", "removal_not_applied"}


def describe_check(check: GrantCheck) -> list[str]:
    """One line per account of a request's check, with each difference below it."""
    lines = []
    for account in check.accounts:
        line = f"  {account['account_id']}  {account['state']}"
        if account.get("reason"):
            line += f" ({account['reason']}: {account.get('message', '')})"
        if account.get("last_used_at"):
            line += f"  last used {account['last_used_at']} {account.get('last_used_region', '')}"
        lines.append(line.rstrip())
        lines.extend(f"      - {d}" for d in account.get("differences", []))
    if check.message:
        lines.append(f"  {check.message}")
    return lines


class Command(BaseCommand):
    help = (
        "Reads every merged grant (or --request N) back from AWS through each account's audit "
        "role and prints the verdict per account; exits 1 on drift, 2 when an account could "
        "not be read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--request", type=int, help="only this access request (its number)")

    def handle(self, *args: Any, **options: Any) -> None:
        requests = verifiable_requests()
        if options["request"] is not None:
            requests = requests.filter(pk=options["request"])
            if not requests.exists():
                raise CommandError(
                    f"Request #{options['request']} has no merged grant to verify.", returncode=2
                )
        requests_list = list(requests)
        run = VerificationRun.objects.create(kind=VerificationRun.Kind.GRANTS, trigger="command")
        checks = verify_grants(requests_list, run=run)
        truths = truths_for(requests_list)
        drift = unreadable = 0
        for access_request, check in zip(requests_list, checks, strict=True):
            truth = truths[access_request.pk]
            label = truth.label if truth else check.get_state_display()
            self.stdout.write(f"Request #{access_request.pk} {access_request.vendor.name}: {label}")
            for line in describe_check(check):
                self.stdout.write(line)
            if truth is not None and truth.code in _DRIFT_TRUTHS:
                drift += 1
            elif check.state in (GrantCheck.State.UNREADABLE, GrantCheck.State.ERROR):
                unreadable += 1
        self.stdout.write(
            f"{len(checks)} grant(s) verified: {drift} drifted, {unreadable} not readable."
        )
        if drift:
            sys.exit(DRIFT)
        if unreadable:
            sys.exit(UNREADABLE)
