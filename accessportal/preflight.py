"""Start-up checks that need the outside world: database, migrations, broker, folders.

Run by `manage.py preflight` (and so by `make run`), by gunicorn before it binds and by the
Celery worker before it takes work, so that an unreachable `DATABASE_URL` is one clear line at
start-up instead of a traceback in the first request.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def database_problem() -> str | None:
    """Connects to the database; returns why it failed, or None."""
    db = settings.DATABASES[DEFAULT_DB_ALIAS]
    where = db.get("HOST") or db.get("NAME")
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot use the database"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"DATABASE_URL: cannot connect to the database at {where}: {first_line}"
    return None


def migrations_problem() -> str | None:
    """Returns a hint when migrations are pending (the app would fail on missing tables)."""
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return f"{len(pending)} database migrations are pending: run `python manage.py migrate`."
    return None


def broker_problem() -> str | None:
    """Checks that the Celery broker is reachable (Redis) or its folders exist (filesystem)."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "processed_folder"):
            folder = Path(str(options[key]))
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                return f"CELERY_BROKER_URL: cannot create the broker folder {folder}: {exc}"
        return None
    # Here: accessportal.celery imports this module at worker start, and a web process that
    # never checks the broker need not build the Celery app.
    from accessportal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001 - kombu raises transport-specific errors
        return f"CELERY_BROKER_URL: cannot reach the broker at {_redacted(url)}: {exc}"
    return None


PER_PROCESS_CACHES = ("LocMemCache", "DummyCache")


def cache_is_per_process() -> bool:
    """True when each process keeps its own cache, so that login lockouts and the key link's
    rate limit count per process instead of per deployment."""
    return str(settings.CACHES["default"]["BACKEND"]).endswith(PER_PROCESS_CACHES)


def cache_problem(*, processes: int) -> str | None:
    """Refuses several web processes on a per-process cache: each would allow its own tries."""
    if processes > 1 and cache_is_per_process():
        return (
            f"CACHE_URL: {processes} web processes cannot share an in-process cache (login "
            "lockouts and rate limits would count per process): set CACHE_URL=redis://HOST:6379/1 "
            "or WEB_CONCURRENCY=1."
        )
    return None


def preflight_problems(*, check_broker: bool = True) -> list[str]:
    """Every problem found, in the order an operator should fix them."""
    problem = database_problem()
    if problem:
        return [problem]
    problems = [p for p in (migrations_problem(),) if p]
    if check_broker:
        problems += [p for p in (broker_problem(),) if p]
    return problems
