"""gunicorn's master: it checks the deployment before binding, then forks workers that must
share nothing with it (issue 15: a forked PostgreSQL socket mixed the workers' transactions)."""

from __future__ import annotations

import runpy
from types import SimpleNamespace

import pytest
from django.db import connections

from tests.processes import ROOT

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
