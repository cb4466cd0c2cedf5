"""`manage.py send_reminders`: the reminder and lapse passes the beat runs hourly, at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from approvals.reminders import requests_remind
from vendors.reminders import reviews_remind


class Command(BaseCommand):
    help = (
        "Lapses requests and extension asks nobody decided in time, reminds the approvers of "
        "those still waiting, and reminds owners and security of reviews falling due. Safe to "
        "run beside the workers: each reminder goes out once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        requests = requests_remind()
        reviews = reviews_remind()
        self.stdout.write(
            "Requests: {lapsed} lapsed, {reminded} reminded; extension asks: "
            "{extensions_lapsed} lapsed, {extensions_reminded} reminded.".format(**requests)
        )
        self.stdout.write(
            "Reviews: {due} falling due reminded, {overdue} overdue reminded.".format(**reviews)
        )
