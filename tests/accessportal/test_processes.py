"""The processes `make run` and docker compose start, run for real against PostgreSQL and Redis:
the Celery worker executes a task sent through Redis, beat schedules the heartbeat on its own,
and gunicorn serves pages and static files."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from urllib.error import HTTPError

import pytest

from accessportal.models import WorkerHeartbeat
from tests.processes import ROOT, running, venv_command, wait_until
from tests.services import free_port, wait_for_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def broker_not_eager():
    """Sends tasks from this process through Redis instead of running them inline."""
    from accessportal.celery import app

    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = True


def test_worker_process_runs_a_task_sent_through_redis(subprocess_env, tmp_path, broker_not_eager):
    from accessportal.tasks import worker_heartbeat_task

    log = tmp_path / "worker.log"
    with running([*venv_command("worker"), "--hostname", "it-worker@%h"], subprocess_env, log):
        worker_heartbeat_task.delay()
        beat = wait_until(
            lambda: WorkerHeartbeat.objects.filter(hostname__startswith="it-worker@").first(),
            timeout=60,
            what="the worker to record its heartbeat",
            log=log,
        )
    assert beat.last_seen is not None


def test_beat_schedules_the_heartbeat_that_the_worker_runs(subprocess_env, tmp_path):
    env = {**subprocess_env, "PORTAL_HEARTBEAT_SECONDS": "1"}
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    beat_args = [*venv_command("beat"), "--schedule", str(tmp_path / "beat-schedule")]
    with (
        running([*venv_command("worker"), "--hostname", "beat-test@%h"], env, worker_log),
        running(beat_args, env, beat_log),
    ):
        wait_until(
            lambda: WorkerHeartbeat.objects.filter(hostname__startswith="beat-test@").count(),
            timeout=60,
            what="beat to schedule a heartbeat",
            log=beat_log,
        )
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="accessportal.tasks.worker_heartbeat_task").exists()


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_gunicorn_serves_pages_and_static_files(subprocess_env, tmp_path):
    port = free_port()
    env = {
        **subprocess_env,
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PORTAL_STATIC_MANIFEST": "true",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
    }
    # As `make run` and the Dockerfile do before starting gunicorn.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with running(venv_command("web"), env, tmp_path / "web.log"):
        wait_for_port(port, timeout=60)
        status, headers, body = _get(f"http://127.0.0.1:{port}/accounts/login/")
        assert status == 200
        assert b"Sign In" in body or b"Sign in" in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        status, headers, body = _get(f"http://127.0.0.1:{port}/static/css/portal.css")
        assert status == 200
        assert b"--brand" in body
        status, _, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert (status, body) == (200, b'{"status": "ok"}')
        status, headers, _ = _get(f"http://127.0.0.1:{port}/")
        assert status == 200  # urllib followed the redirect to the login page
        token = "T0kenOfAOneTimeKeyLink_" + "x" * 20
        status, headers, _ = _get(f"http://127.0.0.1:{port}/keys/{token}/")
        assert status == 404  # the neutral page
        assert headers["Referrer-Policy"] == "no-referrer"
    log = (tmp_path / "web.log").read_text()
    assert "/keys/[redacted]/" in log  # logged, but without the link's credential
    assert token not in log
