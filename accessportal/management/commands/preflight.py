"""`manage.py preflight`: check the database, migrations and broker before starting."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accessportal.preflight import preflight_problems


class Command(BaseCommand):
    help = "Check that the configured database, migrations and Celery broker are usable."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--skip-broker", action="store_true", help="Do not check the broker.")

    def handle(self, *args: Any, **options: Any) -> None:
        problems = preflight_problems(check_broker=not options["skip_broker"])
        if problems:
            raise CommandError("\n  - ".join(["the portal cannot start:", *problems]), returncode=2)
        self.stdout.write(self.style.SUCCESS("Configuration, database and broker are usable."))
