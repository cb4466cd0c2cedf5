"""gunicorn's master: it checks the deployment before binding, then forks workers that must
share nothing with it (issue 15: a forked PostgreSQL socket mixed the workers' transactions)."""

from __future__ import annotations

import runpy
import subprocess
from types import SimpleNamespace

import pytest
from django.db import connections

from tests.accessportal.test_configuration import fresh_env  # noqa: F401  a fixture
from tests.processes import ROOT, venv_command
from tests.services import free_port

HOOKS = runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def _master(workers: int) -> SimpleNamespace:
    return SimpleNamespace(cfg=SimpleNamespace(workers=workers))


@pytest.mark.django_db(transaction=True)
def test_the_master_forks_with_no_database_connection_open():
    HOOKS["on_starting"](_master(workers=3))  # the preflight queries the database
    assert connections["default"].connection is None


@pytest.mark.django_db(transaction=True)
def test_each_fork_starts_without_the_masters_database_connection():
    connections["default"].ensure_connection()
    HOOKS["pre_fork"](_master(workers=3), object())
    assert connections["default"].connection is None


@pytest.mark.parametrize("cache_url", ["locmemcache://", "dummycache://"])
def test_several_workers_on_an_in_process_cache_do_not_start(fresh_env, cache_url):  # noqa: F811
    env = {
        **fresh_env,
        "CACHE_URL": cache_url,
        "WEB_CONCURRENCY": "2",
        "PORTAL_BIND": f"127.0.0.1:{free_port()}",
    }
    result = subprocess.run(
        venv_command("web"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Cannot start the web server" in result.stderr
    assert "CACHE_URL: 2 web processes cannot share an in-process cache" in result.stderr
