"""A private PostgreSQL for one benchmark run, and Django configured to use it.

The server is the test suite's (`tests.services`): a fresh cluster in a temporary folder on a
free loopback port, with durability off (fsync, synchronous commit), removed afterwards. Durability
costs writes only; the pages measured here read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def django_on_private_postgres() -> Iterator[str]:
    """Starts PostgreSQL, configures and sets up Django, migrates; yields the database URL."""
    from tests.services import Services

    # A terminated run still stops its server: SIGTERM becomes SystemExit, which runs `finally`.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    services = Services(root=Path(tempfile.mkdtemp(prefix="portal-bench-")))
    try:
        services.start_postgres()
        var_dir = services.root / "var"
        (var_dir / "staticfiles").mkdir(parents=True)
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "accessportal.settings",
                "DATABASE_URL": services.database_url,
                "CELERY_TASK_ALWAYS_EAGER": "true",
                "PORTAL_STATIC_MANIFEST": "false",
                "PORTAL_VAR_DIR": str(var_dir),
                "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
                # Django's test client talks to "testserver".
                "DJANGO_ALLOWED_HOSTS": "testserver,127.0.0.1",
                "DJANGO_DEBUG": "false",
            }
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        yield services.database_url
    finally:
        from django.db import connections

        connections.close_all()
        services.stop()
