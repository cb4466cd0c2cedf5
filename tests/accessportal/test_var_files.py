"""The demo defaults' files under var/ are readable by their owner only (issue 15)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from accessportal.config import owner_only_sqlite
from tests.accessportal.test_configuration import _SESSION_VARS
from tests.processes import ROOT

# Opens the default database (WAL mode, as settings configure it), writes, and reports the
# mode of each file SQLite made while the connection is still open, under a umask of 022.
_PROBE = """
import json, os, pathlib
os.umask(0o022)
import django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
var = pathlib.Path(settings.VAR_DIR)
print(json.dumps({p.name: p.stat().st_mode & 0o777 for p in [var, *var.glob("portal.sqlite3*")]}))
"""


def _modes(env: dict[str, str]) -> dict[str, int]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _fresh_env(var: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARS}
    env.update(PORTAL_VAR_DIR=var, DJANGO_SETTINGS_MODULE="accessportal.settings")
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_the_default_sqlite_database_and_its_wal_are_owner_only(tmp_path):
    modes = _modes(_fresh_env(str(tmp_path / "var")))
    assert {"portal.sqlite3", "portal.sqlite3-wal", "portal.sqlite3-shm"} <= set(modes)
    for name, mode in modes.items():
        if name == "var":
            assert mode == 0o700, oct(mode)  # the folder the portal made
        else:
            assert mode == 0o600, (name, oct(mode))


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    for suffix in ("", "-wal"):
        (var / f"portal.sqlite3{suffix}").touch()
        os.chmod(var / f"portal.sqlite3{suffix}", 0o644)
    owner_only_sqlite(str(var / "portal.sqlite3"))
    for suffix in ("", "-wal"):
        assert stat.S_IMODE(os.stat(var / f"portal.sqlite3{suffix}").st_mode) == 0o600
    owner_only_sqlite(":memory:")  # nothing to do, and no file named so
    assert not (ROOT / ":memory:").exists()
