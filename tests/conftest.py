"""Test session set-up: real PostgreSQL and Redis, then Django configured to use them.

The test process runs on `accessportal.settings_test` (production's plus a fast password hasher
and in-process mail and tasks); the processes tests start run on `accessportal.settings`.

With PORTAL_TESTS=pure (`make test-pure`), only tests marked `pure` are selected and no server
starts: Django gets an in-memory SQLite and a local-memory cache, and pytest-django refuses any
database access, so a `pure` test that needs the database fails instead of passing by luck.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Services, start_services

ROOT = Path(__file__).resolve().parent.parent
_services: Services | None = None
PURE = os.environ.get("PORTAL_TESTS") == "pure"
# What the processes that tests start (gunicorn, workers) run on: the production settings.
PRODUCTION_SETTINGS = "accessportal.settings"

# Chromium from Debian's package; the flags keep it off the (closed) network.
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _bootstrap() -> None:
    """Starts the servers and configures Django.

    Runs when pytest imports this file, before it imports the conftest files of subfolders
    (which import models) and before pytest-django's own set-up: the settings read
    DATABASE_URL and CELERY_BROKER_URL from the environment once, at import.
    """
    global _services
    if PURE:
        # No server: nothing a pure test does may reach one (pytest-django blocks the database).
        servers = {
            "DATABASE_URL": "sqlite://:memory:",
            "CELERY_BROKER_URL": "memory://",
            "CACHE_URL": "locmemcache://",
        }
    else:
        _services = start_services()
        servers = {
            "DATABASE_URL": _services.database_url,
            "CELERY_BROKER_URL": f"{_services.redis_url}/0",
            # Shared by every process, as production's must be (rate limits, lockouts).
            "CACHE_URL": f"{_services.redis_url}/1",
        }
    var_dir = Path(tempfile.mkdtemp(prefix="portal-test-var-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "accessportal.settings_test",
            **servers,
            # The rest is shared with the processes tests start (they read the environment).
            "PORTAL_STATIC_MANIFEST": "false",
            "PORTAL_VAR_DIR": str(var_dir),
            "DJANGO_SECRET_KEY": "test-secret-key-" + "x" * 40,
            # Playwright drives the sync API from pytest's thread, which Django sees as async.
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    import django

    django.setup()


_bootstrap()


def pytest_configure(config: pytest.Config) -> None:
    if PURE:
        # The pure tier is the `pure` tests, whatever else the command line selects.
        marks = config.option.markexpr
        config.option.markexpr = f"pure and ({marks})" if marks else "pure"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _services is not None:
        _services.stop()


@pytest.fixture(scope="session")
def services() -> Services:
    """The PostgreSQL and Redis servers of this test session."""
    assert _services is not None
    return _services


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture
def password() -> str:
    return "correct-horse-battery-staple-42"


@pytest.fixture
def make_user(db, password):  # type: ignore[no-untyped-def]
    """Creates a user holding the given roles (every user is a requester)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    def make(username: str, *roles: str, **extra: object):  # type: ignore[no-untyped-def]
        user = get_user_model().objects.create_user(
            username=username, email=f"{username}@example.com", password=password, **extra
        )
        for role in roles:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


# The people and rows that the tests of several apps share. A module or folder whose variant
# differs (another role, a signed-in client) defines its own under the same name, which wins.
@pytest.fixture
def engineer(make_user):
    """A requester without any other role."""
    return make_user("erin")


@pytest.fixture
def security(make_user):
    from accessportal.roles import Role

    return make_user("sam", Role.SECURITY, is_staff=True)


@pytest.fixture
def security2(make_user):
    """A second security team member, for decisions that need two people."""
    from accessportal.roles import Role

    return make_user("sasha", Role.SECURITY, is_staff=True)


@pytest.fixture
def auditor(make_user):
    from accessportal.roles import Role

    return make_user("ari", Role.AUDITORS)


@pytest.fixture
def vendor(engineer):
    """Orbit CI, created by `engineer` (whichever `engineer` the test sees)."""
    from tests.vendors.helpers import vendor_data
    from vendors import services as vendor_services

    return vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))


@pytest.fixture
def account(db):
    """An active service account in the inventory: payments, staging, alpha."""
    from inventory.models import AwsAccount

    return AwsAccount.objects.create(
        account_id="111122223333",
        name="payments-staging",
        account_type="service",
        domain="payments",
        environment="staging",
        quality="alpha",
        status="active",
    )


@pytest.fixture
def subprocess_env(services: Services, settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment for a process (worker, gunicorn) that must see this test's database."""
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = PRODUCTION_SETTINGS
    env["DATABASE_URL"] = (
        f"postgres://app@127.0.0.1:{services.pg_port}/{connection.settings_dict['NAME']}"
    )
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Login rate limits live in the cache: one test's failures must not lock out the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _reference_data(request: pytest.FixtureRequest) -> None:
    """Restores the reference rows that data migrations create, for transactional tests.

    Django empties every table after a transactional test (its post_migrate handlers bring
    back content types, permissions and the site, but not data-migration rows), so the next
    transactional test would find no role groups and no checklist catalogue.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from tests.reference_data import restore_reference_data

    restore_reference_data(apps)
