"""docker-compose.yml and the Dockerfile run the same commands that the tests exercise.

Docker cannot run here, so this checks the file's structure and ties each service's command to
the Procfile command that test_processes.py runs for real (gunicorn, worker, beat).
"""

from __future__ import annotations

import yaml

from tests.processes import ROOT, procfile_commands


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_defines_the_production_services_with_health_checks():
    services = _compose()["services"]
    assert {"web", "worker", "reports", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "reports", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "reports", "beat", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", name
    assert set(_compose()["volumes"]) == {"portal-data", "postgres-data", "redis-data"}


def test_compose_points_the_portal_at_postgres_and_redis():
    for name in ("web", "worker", "reports", "beat", "migrate"):
        env = _compose()["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://"), name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:"), name
        assert env["AWS_ENDPOINT_URL"] == "", name  # real AWS


def test_compose_runs_the_commands_the_tests_exercise():
    services = _compose()["services"]
    procfile = procfile_commands()
    assert services["web"]["command"] == procfile["web"]
    assert services["worker"]["command"][:4] == procfile["worker"][:4]
    assert services["beat"]["command"][:4] == procfile["beat"][:4]
    # The PDF binders' worker reads the queue the settings send them to, in both.
    for command in (services["reports"]["command"], procfile["reports"]):
        assert command[:4] == ["celery", "-A", "accessportal", "worker"]
        assert command[command.index("--queues") + 1] == "reports"


def test_dockerfile_starts_gunicorn_with_the_shared_configuration():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]' in dockerfile
    assert "collectstatic" in dockerfile
    assert "USER portal" in dockerfile  # never root at run time
