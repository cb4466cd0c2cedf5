"""Benchmark: the production topology under load (issue 21).

Run with `.venv/bin/python bench/bench_load.py` (or `make bench`). Starts PostgreSQL and Redis
(tests/services.py), seeds a small organization (bench/seed.py), a fake GitHub forge serving a
Substrate repository (tests/fakes), gunicorn with several workers (the Procfile's command,
serving bench/load_settings.py: the portal plus the floors) and two Celery workers. Then Locust,
used as a library, drives signed-in users for `BENCH_LOAD_SECONDS` (default 60; `BENCH_QUICK=1`:
20 s and 10 users; `BENCH_LOAD_USERS` sets them): half are requesters (sign in, their lists,
file requests through the form), half security users (sign in with their authenticator code,
read the lists, approve the requests filed, and post signed GitHub webhook deliveries). A
second phase of the same length, users and actions reads the pages' floors instead of the pages.
Prints throughput, p50/p95/p99 of each page and action, the errors (the target: 0), the ratio
of each page's p50 to its floor's (the target: at most 3), and the time from each approve POST
to its request's pull request being open on the fake forge while the workers are busy with
the others (the target: p95 under 5 s); writes var/bench/load.json.
Not a test: nothing here fails on a slow machine; the exit code says only whether it ran.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
    "dashboard": ("/", "/__floor__/dashboard/", "any"),
    "request list": ("/requests/", "/__floor__/requests/", "requester"),
    "vendor list": ("/vendors/", "/__floor__/vendors/", "security"),
    "request page": ("", "", "none"),  # read by the approvers before approving
    "admin request list": (
        "/admin/approvals/accessrequest/",
        "/__floor__/admin-requests/",
        "security",
    ),
}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PR_WAIT_SECONDS = 30
MAX_PEOPLE = 100
# Role names are unique to a vendor's live requests: one counter across both phases.
ROLE_NAMES = itertools.count()  # per role: more than any run's users


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
            seeded = _seed(substrate)
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


def _seed(substrate: Any) -> dict[str, Any]:
    """The organization, plus the load's own people: requesters, and security users each with
    their own authenticator app (a code is accepted once: two users sharing an account would
    refuse each other's), the Substrate repository's accounts in the inventory (requests for
    them open real pull requests) and a vendor with a current review (approvable)."""
    # Here, not at the top: the portal's models need Django set up, which main() does first.
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accessportal.roles import Role
    from bench.seed import Scale, seed_organization, vacuum_analyze
    from inventory.models import AwsAccount
    from vendors.models import Vendor
    from vendors.selectors import ReviewState, with_review_state

    quick = os.environ.get("BENCH_QUICK") == "1"
    scale = (
        Scale(accounts=50, vendors=200, requests=2000)
        if quick
        else Scale(accounts=200, vendors=1000, requests=10_000)
    )
    started = time.perf_counter()
    seeded = seed_organization(scale)
    known = set(AwsAccount.objects.values_list("account_id", flat=True))
    for a in substrate.services():
        if a.id not in known:
            AwsAccount.objects.create(
                account_id=a.id,
                name=f"{a.domain}-{a.environment}-{a.quality}",
                account_type="service",
                domain=a.domain,
                environment=a.environment,
                quality=a.quality,
                status="active",
            )
    vacuum_analyze()
    users = get_user_model()
    security_group = Group.objects.get_or_create(name=Role.SECURITY)[0]
    people: dict[str, list[tuple[str, str | None]]] = {"requester": [], "security": []}
    hashed = make_password(PASSWORD)  # once: the hasher takes a while, on purpose
    for n in range(MAX_PEOPLE):
        name = f"load-requester-{n}"
        users.objects.create(username=name, email=f"{name}@example.com", password=hashed)
        people["requester"].append((name, None))
        name = f"load-security-{n}"
        user = users.objects.create(
            username=name, email=f"{name}@example.com", password=hashed, is_staff=True
        )
        user.groups.add(security_group)
        secret = generate_totp_secret()
        TOTP.activate(user, secret)
        people["security"].append((name, secret))
    # Any: the review state is an annotation, which the Django plugin cannot see.
    vendors: Any = with_review_state(Vendor.objects.filter(status=Vendor.Status.ACTIVE))
    vendor = vendors.filter(review_state=ReviewState.CURRENT).order_by("pk").first()
    if vendor is None:
        raise SystemExit("the seed has no vendor with a current review")
    print(f"seeded {sum(seeded.rows.values()):,} rows in {time.perf_counter() - started:.1f} s")
    return {
        "scale": {"accounts": scale.accounts, "vendors": scale.vendors, "requests": scale.requests},
        "people": people,
        "vendor_id": vendor.pk,
        "domain": substrate.services()[0].domain,
        "filed": [],  # request ids filed and not yet taken by an approver
        "approvals": {},  # request id -> approve POST time (perf_counter)
        "pr_open": {},  # request id -> seconds from the approve POST to pull request open
    }


def _totp_code(secret: str) -> str:
    from tests.e2e.helpers import totp_code

    return totp_code(secret)


def _user_class(ctx: dict[str, Any], phase: str) -> type[Any]:
    """Locust's user for one phase. Each user signs in as a person of its own (every other one
    from security, with the authenticator code); in the page phase requesters browse their lists
    and file requests, security users browse, approve the requests filed and receive the forge's
    webhooks; in the floor phase everyone reads the floors."""
    from locust import HttpUser, between, task

    floor = phase == "floor"
    counter = iter(range(10**6))

    class Portal(HttpUser):
        host = ctx["web_url"]
        wait_time = between(0.5, 1.5)

        def on_start(self) -> None:
            n = next(counter)
            self.role = "security" if n % 2 else "requester"
            self.username, self.secret = ctx["people"][self.role][n // 2]
            self._sign_in()

        def _csrf(self) -> str:
            return str(self.client.cookies.get("csrftoken", ""))

        def _post(self, path: str, data: dict[str, Any], name: str) -> Any:
            with self.client.post(
                path,
                {**data, "csrfmiddlewaretoken": self._csrf()},
                headers={"Referer": f"{ctx['web_url']}{path}"},
                name=name,
                catch_response=True,
            ) as r:
                if r.status_code >= 400 or "/accounts/login/" in r.url:
                    r.failure(f"{r.status_code} at {r.url}")
                return r

        def _sign_in(self) -> None:
            self.client.get("/accounts/login/", name="sign in (form)")
            r = self._post(
                "/accounts/login/", {"login": self.username, "password": PASSWORD}, "sign in"
            )
            if self.secret is not None:
                with r:
                    if "/accounts/2fa/authenticate/" not in r.url:
                        r.failure(f"no second-factor step: {r.url}")
                self._post(
                    "/accounts/2fa/authenticate/",
                    {"code": _totp_code(self.secret)},
                    "sign in (authenticator code)",
                )

        def _get(self, path: str, name: str) -> None:
            with self.client.get(path, name=name, catch_response=True) as r:
                if r.status_code != 200 or "/accounts/login/" in r.url:
                    r.failure(f"{r.status_code} at {r.url}")

        @task(3)
        def browse(self) -> None:
            for name, (page, floor_page, role) in PAGES.items():
                if role == self.role or role == "any":
                    self._get(floor_page if floor else page, name)

        # The floor phase files, approves and receives webhooks too: the same load, with the
        # floors read instead of the pages.
        @task(1)
        def act(self) -> None:
            if self.role == "requester":
                self._file_request()
            else:
                self._approve()
                self._webhook()

        def _file_request(self) -> None:
            self.client.get("/requests/new/", name="request form")
            expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
            r = self._post(
                "/requests/new/",
                {
                    "vendor": ctx["vendor_id"],
                    "strategy": "role_per_account",
                    "principals": "arn:aws:iam::123456789012:role/LoadCi",
                    "domains": [ctx["domain"]],
                    "environments": ["*"],
                    "qualities": ["*"],
                    "role_name": f"LoadCi{next(ROLE_NAMES)}",
                    "policy_source": "managed",
                    "managed_policy_arns": [READ_ONLY],
                    "justification": "Load benchmark",
                    "expires_on": expires,
                    "submit": "1",
                },
                "file a request",
            )
            match = re.search(r"/requests/(\d+)/$", r.url)
            if match:
                ctx["filed"].append(int(match.group(1)))
            elif r.status_code < 400:  # (a 400 is counted already)
                with r:
                    r.failure(f"not filed: {r.status_code} at {r.url}")

        def _approve(self) -> None:
            if not ctx["filed"]:
                return
            pk = ctx["filed"].pop(0)
            path = f"/__floor__/requests/{pk}/" if floor else f"/requests/{pk}/"
            self._get(path, "request page")
            started = time.perf_counter()
            r = self._post(f"/requests/{pk}/approve/", {"comment": "ok"}, "approve")
            if r.status_code < 400:
                ctx["approvals"][pk] = started

        def _webhook(self) -> None:
            body = json.dumps({"zen": "Keep it logically awesome."}).encode()
            signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            with self.client.post(
                "/webhooks/github/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "ping",
                    "X-GitHub-Delivery": f"load-{uuid.uuid4()}",
                    "X-Hub-Signature-256": f"sha256={signature}",
                },
                name="webhook",
                catch_response=True,
            ) as r:
                if r.status_code >= 400:
                    r.failure(f"{r.status_code}")

    return Portal


def _watch_pull_requests(ctx: dict[str, Any]) -> None:
    """Polls the database for the approved requests whose pull request is open: the time from
    the approve POST to then is the latency (to the tenth of a second)."""
    import gevent

    # Here, not at the top: models need Django set up, which main() does first.
    from approvals.models import AccessRequest

    while True:
        waiting = [pk for pk in ctx["approvals"] if pk not in ctx["pr_open"]]
        if waiting:
            now = time.perf_counter()
            opened = AccessRequest.objects.filter(
                pk__in=waiting, status=AccessRequest.Status.PR_OPEN
            ).values_list("pk", flat=True)
            for pk in opened:
                ctx["pr_open"][pk] = now - ctx["approvals"][pk]
        gevent.sleep(0.1)


def _run_phase(ctx: dict[str, Any], phase: str, users: int, seconds: int) -> dict[str, Any]:
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=[_user_class(ctx, phase)])
    runner = env.create_local_runner()
    watcher = gevent.spawn(_watch_pull_requests, ctx)
    runner.start(users, spawn_rate=max(users / 5, 1))
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()
    # The pull requests of the last approvals open after the load stops.
    deadline = time.perf_counter() + PR_WAIT_SECONDS
    while len(ctx["pr_open"]) < len(ctx["approvals"]) and time.perf_counter() < deadline:
        gevent.sleep(0.2)
    watcher.kill()
    # Here, not at the top: models need Django set up, which main() does first.
    from approvals.models import AccessRequest

    waiting = [pk for pk in ctx["approvals"] if pk not in ctx["pr_open"]]
    ctx["not_open"] = dict(
        collections.Counter(
            AccessRequest.objects.filter(pk__in=waiting).values_list("status", flat=True)
        )
    )
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


def _percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted `values`, None when there are none."""
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> int:
    # The fake forge's git server logs every capability exchange.
    logging.getLogger("dulwich").setLevel(logging.WARNING)
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
    # Every page and action of the page phase; those with a floor get the ratio of the p50s.
    for name, page in sorted(pages["pages"].items()):
        floor = floors["pages"].get(name) if name in PAGES else None
        ratio = round(page["p50_ms"] / floor["p50_ms"], 2) if floor and floor["p50_ms"] else None
        verdict = (
            "ok" if not page["failures"] and (ratio is None or ratio <= MAX_RATIO) else ("MISSED")
        )
        results.append(
            {"name": name, "page": page, "floor": floor, "ratio_p50": ratio, "verdict": verdict}
        )
    errors_verdict = "ok" if pages["failures"] + floors["failures"] <= MAX_ERRORS else "MISSED"
    print(
        f"\n{users} users, {seconds} s a phase: pages {pages['rps']} req/s "
        f"({pages['requests']} requests), floors {floors['rps']} req/s; errors "
        f"{pages['failures'] + floors['failures']} (target {MAX_ERRORS}) {errors_verdict}"
    )
    print(
        f"{'page or action':28} {'req/s':>6} {'fail':>4} {'p50 ms':>7} {'p95':>6} {'p99':>6} "
        f"{'floor p50':>9} {'ratio':>6}  (target <= {MAX_RATIO})"
    )
    for r in results:
        p, f = r["page"], r["floor"] or {}
        ratio_text = f"{r['ratio_p50']:.2f}" if r["ratio_p50"] is not None else "-"
        floor_text = f"{f['p50_ms']:.0f}" if f else "-"
        print(
            f"{r['name']:28} {p['rps']:6.2f} {p['failures']:4} {p['p50_ms']:7.0f} "
            f"{p['p95_ms']:6.0f} {p['p99_ms']:6.0f} {floor_text:>9} {ratio_text:>6}  "
            f"{r['verdict']}"
        )
    latencies = sorted(ctx["pr_open"].values())
    pr_p95 = _percentile(latencies, 0.95)
    missing = len(ctx["approvals"]) - len(latencies)
    met = pr_p95 is not None and pr_p95 <= PR_OPEN_P95_SECONDS and not missing
    pr_verdict = "ok" if met else "MISSED"
    print(
        f"approval -> pull request open: {len(latencies)} of {len(ctx['approvals'])} approvals, "
        f"p50 {_show(_percentile(latencies, 0.5))} s, p95 {_show(pr_p95)} s "
        f"(target {PR_OPEN_P95_SECONDS} s) {pr_verdict}"
    )
    if ctx.get("not_open"):
        print(f"  approvals without an open pull request, by status: {ctx['not_open']}")
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
        "pr_open": {
            "approvals": len(ctx["approvals"]),
            "opened": len(latencies),
            "p50_seconds": _percentile(latencies, 0.5),
            "p95_seconds": pr_p95,
            "target_p95_seconds": PR_OPEN_P95_SECONDS,
            "verdict": pr_verdict,
            "not_open_by_status": ctx.get("not_open", {}),
        },
        "errors_verdict": errors_verdict,
    }
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
