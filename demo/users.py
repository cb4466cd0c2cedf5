"""Demo data for `make run`: one user per role, with passwords kept in var/ for this machine.

Seeding is idempotent: re-running keeps every existing row and password. Each app seeds its
own demo data from the `seed_demo` command.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accessportal.roles import Role


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    roles: tuple[Role, ...]
    staff: bool = False


DEMO_USERS = (
    DemoUser("engineer", "Erin Engineer", (Role.REQUESTERS,)),
    DemoUser("security", "Sam Security", (Role.SECURITY,), staff=True),
    DemoUser("security2", "Sasha Second-Approver", (Role.SECURITY,), staff=True),
    DemoUser("auditor", "Ari Auditor", (Role.AUDITORS,)),
)


def _passwords_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.json"


def _load_passwords() -> dict[str, str]:
    path = _passwords_file()
    if path.is_file():
        return dict(json.loads(path.read_text()))
    return {}


def _save_passwords(passwords: dict[str, str]) -> None:
    path = _passwords_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only: these are real passwords of this machine's demo accounts.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords, handle, indent=2)


@transaction.atomic
def seed_demo_users() -> list[tuple[str, str, str]]:
    """Creates the demo users that do not exist yet; returns (username, password, roles)."""
    user_model = get_user_model()
    passwords = _load_passwords()
    logins = []
    for demo in DEMO_USERS:
        user = user_model.objects.filter(username=demo.username).first()
        if user is None:
            password = passwords.get(demo.username) or secrets.token_urlsafe(12)
            first, _, last = demo.full_name.partition(" ")
            user = user_model.objects.create_user(
                username=demo.username,
                email=f"{demo.username}@example.com",
                password=password,
                first_name=first,
                last_name=last,
                is_staff=demo.staff,
            )
            passwords[demo.username] = password
        for role in demo.roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        logins.append(
            (
                demo.username,
                passwords.get(demo.username, "(set before; unknown)"),
                ", ".join(r.value for r in demo.roles),
            )
        )
    _save_passwords(passwords)
    return logins
