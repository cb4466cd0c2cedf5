"""Benchmark: the production topology under load (issue 21).

Run with `.venv/bin/python bench/bench_load.py` (or `make bench`). Starts PostgreSQL and Redis
(tests/services.py), seeds a small organization (bench/seed.py), a fake GitHub forge serving a
Substrate repository (tests/fakes), gunicorn with several workers (the Procfile's command,
serving bench/load_settings.py: the portal plus the floors) and two Celery workers. Then Locust,
used as a library, drives signed-in users for `BENCH_LOAD_SECONDS` (default 60; `BENCH_QUICK=1`:
20 s and fewer users) through the pages, and in a second phase of the same length and users
through the pages' floors. Prints throughput, p50/p95/p99 per page, the errors (the target: 0)
and the ratio of each page's p50 to its floor's; writes var/bench/load.json.
Not a test: nothing here fails on a slow machine; the exit code says only whether it ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Locust patches the standard library for gevent on import: before Django, psycopg and redis.
import locust  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_ERRORS = 0
MAX_RATIO = 3.0
PR_OPEN_P95_SECONDS = 5.0
PASSWORD = "bench-load-Password-7Kq2"  # noqa: S105  (a throwaway user of a throwaway database)
WEB_WORKERS = 3
CELERY_WORKERS = ("main", "peer")
WEBHOOK_SECRET = "whsec_benchLOADsecret"  # noqa: S105
FORGE_TOKEN = "ghs_benchLOADtoken"  # noqa: S105

# page name -> (page path, floor path, who reads it)
PAGES: dict[str, tuple[str, str, str]] = {
    "dashboard": ("/", "/__floor__/dashboard/", "security"),
    "request list": ("/requests/", "/__floor__/requests/", "requester"),
    "vendor list": ("/vendors/", "/__floor__/vendors/", "security"),
}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


@contextlib.contextmanager
def _topology(root: Path) -> Iterator[dict[str, Any]]:
    """PostgreSQL, Redis, the fake forge, gunicorn and the workers; yields what users need."""
    from tests.fakes.github import FakeGitHub
    from tests.fixtures.substrate_repo import build_repo
    from tests.processes import running, venv_command
    from tests.services import Services, free_port, wait_for_port

    # PostgreSQL runs as its own user when this runs as root: its folder is its own mkdtemp.
    services = Services(root=Path(tempfile.mkdtemp(prefix="portal-bench-load-pg-")))
    logs, var, mail = root / "logs", root / "var", root / "mail"
    for folder in (logs, var / "staticfiles", mail):
        folder.mkdir(parents=True)
    try:
        services.start_postgres()
        services.start_redis()
        web_port = free_port()
        web_url = f"http://127.0.0.1:{web_port}"
        substrate = build_repo(root / "substrate", version="2024.08")
        with contextlib.ExitStack() as exits:
            github = exits.enter_context(
                FakeGitHub(root / "github", owner="example", name="substrate", token=FORGE_TOKEN)
            )
            github.commit_directory(substrate.root)
            env = dict(os.environ)
            env.update(
                {
                    "DJANGO_SETTINGS_MODULE": "accessportal.settings",
                    "DATABASE_URL": services.database_url,
                    "CELERY_BROKER_URL": services.redis_url + "/0",
                    "CACHE_URL": services.redis_url + "/1",
                    "CELERY_TASK_ALWAYS_EAGER": "false",
                    "PORTAL_TASK_RETRY_SECONDS": "1",
                    "PYTHONPATH": str(ROOT),
                    "PORTAL_VAR_DIR": str(var),
                    "PORTAL_STATIC_MANIFEST": "false",
                    "EMAIL_URL": f"filemail:///{mail}",
                    "DJANGO_SECRET_KEY": "bench-load-secret-key-" + "x" * 40,
                    "DJANGO_DEBUG": "false",
                    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                    "FORGE": "github",
                    "FORGE_API_URL": github.api_url,
                    "FORGE_REPOSITORY": f"{github.owner}/{github.name}",
                    "FORGE_TOKEN": FORGE_TOKEN,
                    "FORGE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "SUBSTRATE_REPO_URL": github.git_url,
                    "SUBSTRATE_DEFAULT_BRANCH": "main",
                    "PORTAL_BASE_URL": web_url,
                    "AWS_ADMIN_ROLE_ARN": "",
                }
            )
            os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
            import django
            from django.core.management import call_command

            django.setup()
            from tests.stack import _wait_ready  # imports models: after setup

            call_command("migrate", verbosity=0, interactive=False)
            seeded = _seed()
            web_env = {
                **env,
                "DJANGO_SETTINGS_MODULE": "bench.load_settings",
                "PORTAL_BIND": f"127.0.0.1:{web_port}",
                "WEB_CONCURRENCY": str(WEB_WORKERS),
            }
            exits.enter_context(running(venv_command("web"), web_env, logs / "web.log"))
            for name in CELERY_WORKERS:
                log = logs / f"worker-{name}.log"
                command = [*venv_command("worker"), "--hostname", f"{name}@%h"]
                _wait_ready(log, exits.enter_context(running(command, env, log)))
            wait_for_port(web_port, timeout=60)
            github.webhook_url = f"{web_url}/webhooks/github/"
            github.webhook_secret = WEBHOOK_SECRET
            yield {"web_url": web_url, "github": github, "logs": logs, **seeded}
    finally:
        from django.db import connections

        connections.close_all()
        services.stop()


def _seed() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from bench.seed import Scale, seed_organization, vacuum_analyze

    quick = os.environ.get("BENCH_QUICK") == "1"
    scale = (
        Scale(accounts=50, vendors=200, requests=2000)
        if quick
        else Scale(accounts=200, vendors=1000, requests=10_000)
    )
    started = time.perf_counter()
    seeded = seed_organization(scale)
    vacuum_analyze()
    users = get_user_model().objects.filter(
        username__in=[seeded.security_username, seeded.requester_username]
    )
    for user in users:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    print(f"seeded {sum(seeded.rows.values()):,} rows in {time.perf_counter() - started:.1f} s")
    return {
        "scale": {"accounts": scale.accounts, "vendors": scale.vendors, "requests": scale.requests},
        "security": seeded.security_username,
        "requester": seeded.requester_username,
    }


def _user_class(ctx: dict[str, Any], phase: str) -> type[Any]:
    from locust import HttpUser, between, task

    which = 1 if phase == "floor" else 0

    class Portal(HttpUser):
        host = ctx["web_url"]
        wait_time = between(0.5, 1.5)

        def on_start(self) -> None:
            self.role = "security" if self.environment.runner.user_count % 2 else "requester"
            self._sign_in(ctx[self.role])

        def _sign_in(self, username: str) -> None:
            self.client.get("/accounts/login/", name="sign in (form)")
            token = self.client.cookies.get("csrftoken", "")
            self.client.post(
                "/accounts/login/",
                {"login": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
                headers={"Referer": f"{ctx['web_url']}/accounts/login/"},
                name="sign in",
            )

        @task
        def browse(self) -> None:
            for name, paths in PAGES.items():
                with self.client.get(paths[which], name=name, catch_response=True) as r:
                    if r.status_code != 200 or "/accounts/login/" in r.url:
                        r.failure(f"{r.status_code} at {r.url}")

    return Portal


def _run_phase(ctx: dict[str, Any], phase: str, users: int, seconds: int) -> dict[str, Any]:
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=[_user_class(ctx, phase)])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(users / 5, 1))
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    stats = env.stats
    pages = {}
    for entry in stats.entries.values():
        pages[entry.name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "rps": round(entry.num_requests / seconds, 2),
        }
    total = stats.total
    errors = [
        {"name": e.name, "method": e.method, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    return {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.num_requests / seconds, 2),
        "pages": pages,
        "errors": errors,
    }


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    seconds = _env_int("BENCH_LOAD_SECONDS", 20 if quick else 60)
    users = _env_int("BENCH_LOAD_USERS", 10 if quick else 50)
    output = ROOT / "var" / "bench" / "load.json"
    with (
        tempfile.TemporaryDirectory(prefix="portal-bench-load-") as tmp,
        _topology(Path(tmp)) as ctx,
    ):
        print(f"load: {users} users for {seconds} s against {ctx['web_url']}", flush=True)
        pages = _run_phase(ctx, "page", users, seconds)
        floors = _run_phase(ctx, "floor", users, seconds)
    results = []
    for name in PAGES:
        page, floor = pages["pages"].get(name), floors["pages"].get(name)
        ratio = (
            round(page["p50_ms"] / floor["p50_ms"], 2)
            if page and floor and floor["p50_ms"]
            else None
        )
        results.append({"name": name, "page": page, "floor": floor, "ratio_p50": ratio})
    print(
        f"\n{users} users, {seconds} s a phase; pages: {pages['rps']} req/s, "
        f"{pages['failures']} errors (target {MAX_ERRORS}); floors: {floors['rps']} req/s"
    )
    print(f"{'page':16} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'floor p50':>10} ratio")
    for r in results:
        p, f = r["page"] or {}, r["floor"] or {}
        print(
            f"{r['name']:16} {p.get('rps', 0):7} {p.get('p50_ms', 0):7.0f} "
            f"{p.get('p95_ms', 0):7.0f} {p.get('p99_ms', 0):7.0f} {f.get('p50_ms', 0):10.0f} "
            f"{r['ratio_p50']}"
        )
    for e in pages["errors"] + floors["errors"]:
        print(f"  error: {e['method']} {e['name']}: {e['error']} x{e['count']}")
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "load",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "users": users,
        "seconds": seconds,
        "scale": ctx["scale"],
        "targets": {"max_errors": MAX_ERRORS, "max_ratio": MAX_RATIO},
        "pages": pages,
        "floors": floors,
        "results": results,
    }
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
