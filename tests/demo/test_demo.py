"""`manage.py seed_demo`: one user per role, idempotent, passwords kept private."""

from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from accessportal.roles import Role, has_role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_substrate_repository(settings, tmp_path):
    """seed_demo creates the demo Substrate repository: keep it out of the session's var/."""
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _login_line(output: str, username: str) -> str:
    """The printed `username password role` line (other lines come and go between runs)."""
    return next(line for line in output.splitlines() if line.split()[:1] == [username])


def test_seed_demo_creates_a_user_per_role_and_prints_logins():
    output = _seed()
    users = {u.username: u for u in get_user_model().objects.all()}
    assert has_role(users["engineer"], Role.REQUESTERS)
    assert has_role(users["security"], Role.SECURITY)
    assert users["security"].is_staff
    assert has_role(users["security2"], Role.SECURITY)
    assert has_role(users["auditor"], Role.AUDITORS)
    assert not has_role(users["auditor"], Role.SECURITY)
    password = next(
        line.split()[1] for line in output.splitlines() if line.strip().startswith("engineer")
    )
    assert authenticate(username="engineer", password=password) is not None


def test_seed_demo_again_keeps_users_and_passwords():
    first = _seed()
    engineer = get_user_model().objects.get(username="engineer")
    second = _seed()
    assert get_user_model().objects.get(username="engineer").pk == engineer.pk
    assert get_user_model().objects.filter(username="engineer").count() == 1

    def engineer_login(output: str) -> str:
        return next(line for line in output.splitlines() if line.startswith("  engineer "))

    assert engineer_login(first) == engineer_login(second)  # same printed password


def test_demo_passwords_file_is_private():
    _seed()
    path = Path(settings.VAR_DIR) / "demo-logins.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
