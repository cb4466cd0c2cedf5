"""SUBSTRATE_VERSION: the release of a repository that records none reaches the generator."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulfilment.models import PullRequest
from fulfilment.tasks import provision_access_task
from tests.fixtures.substrate_repo import FixtureRepo, build_repo, register_accounts, serve_locally
from tests.fulfilment.helpers import approved, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def substrate(tmp_path: Path, settings) -> FixtureRepo:
    """A 2024.08 repository whose pairs file has no SubstrateVersion, as a local forge."""
    repo = build_repo(tmp_path / "substrate", version="2024.08", record_version=False)
    register_accounts(repo)
    serve_locally(repo, tmp_path, settings)
    return repo


def test_repository_without_a_version_is_served_with_the_setting(
    settings, engineer, security, make_user, substrate
):
    settings.SUBSTRATE_VERSION = "2024.08"
    r = approved(engineer, security, make_user, substrate)
    preview = r.preview or {}
    assert "error" not in preview, preview
    assert any(c.startswith("substrate role create --role") for c in preview["commands"])

    provision_access_task.delay(r.pk)

    assert status(r) == "pr_open"
    row = PullRequest.objects.get(access_request=r)
    assert row.commands[0]["shell"].startswith("substrate role create --role ")


def test_without_the_setting_the_missing_version_is_named(
    settings, engineer, security, make_user, substrate
):
    settings.SUBSTRATE_VERSION = ""
    r = approved(engineer, security, make_user, substrate)
    assert "no SubstrateVersion" in (r.preview or {})["error"]


def test_a_malformed_setting_stops_start_up():
    import subprocess
    import sys

    code = "import django, os; django.setup()"
    env = {
        "DJANGO_SETTINGS_MODULE": "accessportal.settings",
        "SUBSTRATE_VERSION": "latest",
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SUBSTRATE_VERSION='latest' is not a Substrate release" in result.stderr
