"""Configuration: defaults that need no server, clear errors for bad variables, deploy checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accessportal.config import Config
from tests.processes import ROOT, venv_command
from tests.services import free_port

# Variables the test session sets that a fresh `make run` would not have.
_SESSION_VARS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "PORTAL_STATIC_MANIFEST",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DJANGO_SETTINGS_MODULE",  # the tests' own settings module
)


def _manage(*args: str, env: dict[str, str], timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _web(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """gunicorn as the Procfile starts it, expected to stop before serving."""
    return subprocess.run(
        venv_command("web"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fresh_env(tmp_path) -> dict[str, str]:
    """The environment of a fresh machine: none of the portal's variables, var/ in tmp."""
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARS}
    env["PORTAL_VAR_DIR"] = str(tmp_path / "var")
    return env


def test_defaults_need_no_server(fresh_env):
    result = _manage(
        "shell",
        "-c",
        (
            "from django.conf import settings as s;"
            "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.FORGE,"
            " s.AWS_ENDPOINT_URL)"
        ),
        env=fresh_env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "django.db.backends.sqlite3",
        "filesystem://",
        "local",
        "http://127.0.0.1:5055",
    ]


def test_sqlite_default_migrates_into_var(fresh_env, tmp_path):
    result = _manage("migrate", "--noinput", env=fresh_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "portal.sqlite3").stat().st_size > 0
    result = _manage("preflight", env=fresh_env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "broker" / "queue").is_dir()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe' is not a boolean"),
        ("DJANGO_SECURE_HSTS_SECONDS", "soon", "DJANGO_SECURE_HSTS_SECONDS='soon' is not a whole"),
        ("DATABASE_URL", "mysql://u:p@h/db", "DATABASE_URL has the unsupported scheme 'mysql'"),
        ("FORGE", "bitbucket", "FORGE='bitbucket' must be one of: local, github, gitlab"),
        ("PORTAL_BASE_URL", "portal.example.com", "PORTAL_BASE_URL='portal.example.com' is not"),
        ("OIDC_SERVER_URL", "https://sso.example.com", "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ("AWS_AUDIT_ROLE_PATH", "audit", "AWS_AUDIT_ROLE_PATH='audit' is not an IAM path"),
        ("AWS_AUDIT_ROLE_NAME", "Audit/or", "AWS_AUDIT_ROLE_NAME='Audit/or' is not an IAM role"),
    ],
)
def test_malformed_variable_stops_start_up_naming_it(fresh_env, name, value, message):
    result = _manage("check", env={**fresh_env, name: value})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_reported_at_once():
    config = Config({"DJANGO_DEBUG": "perhaps", "DATABASE_CONN_MAX_AGE": "-3"})
    config.boolean("DJANGO_DEBUG", default=False)
    config.integer("DATABASE_CONN_MAX_AGE", default=60)
    assert len(config.errors) == 2


def test_unreachable_database_is_one_clear_line(fresh_env):
    port = free_port()  # nothing listens there
    env = {**fresh_env, "DATABASE_URL": f"postgres://app:s3cret@127.0.0.1:{port}/app"}
    result = _manage("preflight", env=env)
    assert result.returncode == 2
    assert "DATABASE_URL: cannot connect to the database at 127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr


def test_gunicorn_refuses_to_start_on_an_unreachable_database(fresh_env):
    env = {
        **fresh_env,
        "DATABASE_URL": f"postgres://app@127.0.0.1:{free_port()}/app",
        "PORTAL_BIND": f"127.0.0.1:{free_port()}",
    }
    result = _web(env)
    assert result.returncode != 0
    assert "Cannot start the web server" in result.stderr
    assert "DATABASE_URL: cannot connect" in result.stderr


@pytest.mark.parametrize("cache_url", ["locmemcache://", "dummycache://"])
def test_several_web_workers_on_an_in_process_cache_do_not_start(fresh_env, cache_url):
    # Each worker would count its own failed sign-ins and key-link tries.
    env = {
        **fresh_env,
        "CACHE_URL": cache_url,
        "WEB_CONCURRENCY": "2",
        "PORTAL_BIND": f"127.0.0.1:{free_port()}",
    }
    result = _web(env)
    assert result.returncode != 0
    assert "Cannot start the web server" in result.stderr
    assert "CACHE_URL: 2 web processes cannot share an in-process cache" in result.stderr


def test_unreachable_redis_broker_is_reported(fresh_env, tmp_path):
    assert _manage("migrate", "--noinput", env=fresh_env, timeout=120).returncode == 0
    env = {**fresh_env, "CELERY_BROKER_URL": f"redis://:pw@127.0.0.1:{free_port()}/0"}
    result = _manage("preflight", env=env)
    assert result.returncode == 2
    assert "CELERY_BROKER_URL: cannot reach the broker at redis://:***@127.0.0.1" in result.stderr


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "p" * 20 + "-a-long-random-production-secret-" + "q" * 20,
    "DJANGO_ALLOWED_HOSTS": "portal.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "DATABASE_URL": "postgres://portal:pw@db.internal:5432/portal",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "AWS_ENDPOINT_URL": "",
    "FORGE": "github",
    "FORGE_REPOSITORY": "example/substrate",
    "FORGE_TOKEN": "from-the-secret-store",
    "EMAIL_URL": "smtp+tls://portal:pw@smtp.example.com:587",
    # A syntactically valid Fernet key made for this test (32 zero bytes, base64): not a secret.
    "PORTAL_KEY_ENCRYPTION_KEYS": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


def test_check_deploy_is_clean_with_production_variables(fresh_env):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**fresh_env, **PRODUCTION}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_flags_local_defaults(fresh_env):
    result = _manage("check", "--deploy", env=fresh_env)
    for check_id in (
        "accessportal.W001",
        "accessportal.W002",
        "accessportal.W003",
        "accessportal.W004",
        "accessportal.W005",
        "accessportal.W006",
        "security.W009",
    ):
        assert check_id in result.stderr + result.stdout


@pytest.mark.parametrize("cache_url", ["locmemcache://", "dummycache://"])
def test_check_deploy_fails_on_a_cache_each_process_keeps_to_itself(fresh_env, cache_url):
    # Behind several workers each would count its own login failures and key-link tries.
    result = _manage("check", "--deploy", env={**fresh_env, **PRODUCTION, "CACHE_URL": cache_url})
    assert result.returncode != 0
    assert "accessportal.E006" in result.stderr


def test_the_default_cache_is_a_folder_every_local_process_shares(fresh_env, tmp_path):
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.CACHES['default'])",
        env=fresh_env,
    )
    assert result.returncode == 0, result.stderr
    assert "FileBasedCache" in result.stdout
    assert str(tmp_path / "var" / "cache") in result.stdout


@pytest.mark.parametrize(("value", "expected"), [(None, "0 0"), ("1", "1 1"), ("2", "2 2")])
def test_the_trusted_proxy_count_is_read_from_the_environment(fresh_env, value, expected):
    env = dict(fresh_env)
    if value is not None:
        env["PORTAL_TRUSTED_PROXY_COUNT"] = value
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s;"
        "print(s.PORTAL_TRUSTED_PROXY_COUNT, s.ALLAUTH_TRUSTED_PROXY_COUNT)",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_negative_trusted_proxy_count_stops_start_up(fresh_env):
    result = _manage("check", env={**fresh_env, "PORTAL_TRUSTED_PROXY_COUNT": "-1"})
    assert result.returncode == 2
    assert "PORTAL_TRUSTED_PROXY_COUNT=-1 is below the minimum of 0" in result.stderr
