"""`manage.py seed_demo`: create the demo users and data; safe to run again."""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from demo import users as demo
from demo.management.commands.aws_emulator import demo_account_ids
from demo.requests import repair_demo_key_grant, seed_demo_inventory, seed_demo_key_grant
from demo.substrate_repo import seed_demo_repository
from demo.vendors import seed_demo_vendors


class Command(BaseCommand):
    help = "Create demo users for each role and the demo data (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        logins = demo.seed_demo_users()

        vendors_created = seed_demo_vendors()
        self.stdout.write(f"Demo vendors created: {vendors_created}")

        # Computing the demo's account ids replays the emulator's seeding: once at most.
        account_ids = functools.cache(demo_account_ids)
        added = seed_demo_inventory(account_ids)
        if added:
            self.stdout.write(f"Demo accounts in the inventory: {added}")
        # The repository first: the grant's saved preview is generated against it.
        self.stdout.write(seed_demo_repository(account_ids))
        key_grant = seed_demo_key_grant()
        repaired = repair_demo_key_grant() if key_grant is None else None
        if repaired is not None:
            self.stdout.write(
                f"Demo IAM-user grant #{repaired.pk}: its accounts and change filled in."
            )
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Demo logins (this terminal only):"))
        for username, password, roles in logins:
            self.stdout.write(f"  {username:<10} {password:<20} {roles}")
        self.stdout.write(
            f"  (kept in {settings.VAR_DIR / 'demo-logins.json'}, readable by you only)"
        )
        if key_grant is not None:
            self.stdout.write(
                f"Demo IAM-user grant: request #{key_grant.pk} for {key_grant.vendor.name} is "
                "active; the worker issues its access key and e-mails the one-time link "
                "(printed in the worker's output, look for /keys/)."
            )
