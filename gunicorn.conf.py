"""gunicorn settings shared by `make run`, the Dockerfile and the tests."""

import os
import sys

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
wsgi_app = "accessportal.wsgi:application"
accesslog = "-"
# The access log must not hold one-time link tokens (accessportal/log_redaction.py).
logger_class = "accessportal.log_redaction.GunicornLogger"
# Proxies may hold a connection open; keep workers from being killed mid-export.
timeout = 120
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server: object) -> None:
    """Stop before binding when the configuration, database or broker is wrong."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(2)
    # Only now: the checks read models and settings, which need django.setup() above.
    from accessportal.preflight import cache_problem, preflight_problems

    problems = preflight_problems()
    problems += [p for p in (cache_problem(processes=server.cfg.workers),) if p]  # type: ignore[attr-defined]
    if problems:
        sys.stderr.write("Cannot start the web server:\n  - " + "\n  - ".join(problems) + "\n")
        sys.exit(2)
    _close_connections()


def pre_fork(server: object, worker: object) -> None:
    """Each worker opens its own connections: a socket inherited through fork() would be shared
    by every worker, which then read each other's query results and transactions."""
    _close_connections()


def _close_connections() -> None:
    """Closes the master's database and cache connections (the preflight opened them, and
    CONN_MAX_AGE would keep the database's open); the broker's closed when its check ended,
    and redis-py replaces a connection pool it finds in a forked child by itself."""
    if "django" not in sys.modules:
        return
    from django.core.cache import caches
    from django.db import connections

    connections.close_all()
    caches.close_all()
