"""Benchmark: the portal's pages and exports at the size of a large organization.

Run with `.venv/bin/python bench/bench_pages.py` (or `make bench`). Starts a private PostgreSQL,
migrates, seeds an organization (by default 1,000 accounts, 5,000 vendors with reviews, 100,000
requests with approvals and audit events; `BENCH_ACCOUNTS`, `BENCH_VENDORS`, `BENCH_REQUESTS`
or the options change it), then requests each page through Django's test client as a signed-in
user and records:

- the number of SQL queries of one request (the targets: at most 15, the same at any size);
- the median time of `BENCH_RUNS` requests, after two warm-up requests;
- the same for the page's floor (`bench/floors.py`: the same rows with values(), no template)
  and the ratio page / floor (the target: at most 3);
- for exports: the floor is PostgreSQL's COPY of the same joined rows, and the peak of Python
  memory (tracemalloc) while the response is consumed, at two data sizes (the target: flat).

Pages that another branch has not delivered yet (the access map, the exports) are looked up by
URL name and reported as "not built" when absent. Prints a table and writes var/bench/pages.json.
Not a test: nothing here fails on a slow machine; the exit code says only whether it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.environment import django_on_private_postgres  # noqa: E402  (path set up above)

MAX_QUERIES = 15
MAX_RATIO = 3.0
WARM_UP = 2


@dataclass
class Target:
    """One thing to measure: a page (by URL name) or an export, and its floor."""

    name: str
    url_name: str
    user: str  # "security", "requester" or "auditor"
    args: tuple[Any, ...] = ()
    query: str = ""
    floor_url_name: str | None = None
    copy_floor_sql: str | None = None
    export: bool = False


@dataclass
class Result:
    name: str
    url: str | None
    status: int | None = None
    queries: int | None = None
    median_ms: float | None = None
    bytes: int | None = None
    floor_queries: int | None = None
    floor_median_ms: float | None = None
    ratio: float | None = None
    peak_memory_kib: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _consume(response: Any) -> int:
    if getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def _timed(get: Callable[[], Any], runs: int) -> tuple[int, int, int, float]:
    """(status, bytes, queries of one request, median seconds over `runs` requests)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARM_UP):
        _consume(get())
    with CaptureQueriesContext(connection) as captured:
        response = get()
        size = _consume(response)
    # Read now: the list is a view of the connection's log, which the next request clears.
    queries = len(captured.captured_queries)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        _consume(get())
        samples.append(time.perf_counter() - started)
    return response.status_code, size, queries, statistics.median(samples)


def _copy_seconds(sql: str, runs: int) -> float:
    """Median time to COPY the rows of `sql` out of PostgreSQL as CSV, read to the end."""
    from django.db import connection

    samples = []
    for _ in range(WARM_UP + runs):
        started = time.perf_counter()
        with connection.cursor() as wrapper:
            copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
            with wrapper.cursor.copy(copy_sql) as copy:
                for _chunk in copy:
                    pass
        samples.append(time.perf_counter() - started)
    return statistics.median(samples[WARM_UP:])


def _peak_kib(get: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        _consume(get())
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def _targets(showcase_request_id: int) -> list[Target]:
    return [
        Target("dashboard", "dashboard", "security", floor_url_name="floor_dashboard"),
        Target(
            "request list", "approvals:requests", "requester", floor_url_name="floor_request_list"
        ),
        Target("vendor list", "vendors:list", "security", floor_url_name="floor_vendor_list"),
        Target("access map", "reports:access_map", "security"),
        Target(
            "admin request list",
            "admin:approvals_accessrequest_changelist",
            "security",
            floor_url_name="floor_admin_request_list",
        ),
        Target(
            "request page",
            "approvals:request_detail",
            "security",
            args=(showcase_request_id,),
            floor_url_name="floor_request_detail",
        ),
        Target("CSV export", "reports:subprocessors", "auditor", query="format=csv", export=True),
        Target("XLSX export", "reports:subprocessors", "auditor", query="format=xlsx", export=True),
        Target("PDF export", "reports:subprocessors", "auditor", query="format=pdf", export=True),
    ]


def _measure(target: Target, clients: dict[str, Any], runs: int) -> Result:
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse(target.url_name, args=target.args)
    except NoReverseMatch:
        return Result(target.name, None, notes=[f"not built: no URL named {target.url_name}"])
    if target.query:
        url = f"{url}?{target.query}"
    client = clients[target.user]
    result = Result(target.name, url)
    status, size, queries, median = _timed(lambda: client.get(url), runs)
    result.status, result.bytes, result.queries = status, size, queries
    result.median_ms = round(median * 1000, 2)
    if status != 200:
        result.notes.append(f"HTTP {status}")
    if target.floor_url_name:
        floor_url = reverse(target.floor_url_name, args=target.args)
        _, _, floor_queries, floor_median = _timed(lambda: client.get(floor_url), runs)
        result.floor_queries = floor_queries
        result.floor_median_ms = round(floor_median * 1000, 2)
        result.ratio = round(median / floor_median, 2)
    elif target.copy_floor_sql:
        floor_median = _copy_seconds(target.copy_floor_sql, runs)
        result.floor_queries = 1
        result.floor_median_ms = round(floor_median * 1000, 2)
        result.ratio = round(median / floor_median, 2)
    if target.export:
        result.peak_memory_kib["all rows"] = round(_peak_kib(lambda: client.get(url)), 1)
    return result


def _verdict(result: Result) -> str:
    if result.median_ms is None:
        return result.notes[0] if result.notes else "not measured"
    missed = []
    if result.queries is not None and result.queries > MAX_QUERIES:
        missed.append(f"{result.queries} queries > {MAX_QUERIES}")
    if result.ratio is not None and result.ratio > MAX_RATIO:
        missed.append(f"{result.ratio / MAX_RATIO:.1f}x over the {MAX_RATIO:.0f}x target")
    missed.extend(result.notes)
    return "MISSED: " + "; ".join(missed) if missed else "ok"


def _print_table(results: list[Result]) -> None:
    header = (
        f"{'page':20} {'queries':>7} {'median ms':>10} {'floor q':>7} {'floor ms':>9} "
        f"{'ratio':>6}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in results:

        def show(value: Any, width: int, fmt: str = "") -> str:
            return f"{'—' if value is None else format(value, fmt):>{width}}"

        print(
            f"{r.name:20} {show(r.queries, 7)} {show(r.median_ms, 10, '.1f')} "
            f"{show(r.floor_queries, 7)} {show(r.floor_median_ms, 9, '.1f')} "
            f"{show(r.ratio, 6, '.2f')}  {_verdict(r)}"
        )
        for label, kib in r.peak_memory_kib.items():
            print(f"{'':20} peak Python memory ({label}): {kib:,.0f} KiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=_env_int("BENCH_ACCOUNTS", 1000))
    parser.add_argument("--vendors", type=int, default=_env_int("BENCH_VENDORS", 5000))
    parser.add_argument("--requests", type=int, default=_env_int("BENCH_REQUESTS", 100_000))
    parser.add_argument("--runs", type=int, default=_env_int("BENCH_RUNS", 15))
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "pages.json")
    args = parser.parse_args()

    with django_on_private_postgres():
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import override_settings

        from bench.seed import Scale, seed_organization, vacuum_analyze

        scale = Scale(accounts=args.accounts, vendors=args.vendors, requests=args.requests)
        print(
            f"seeding {scale.accounts:,} accounts, {scale.vendors:,} vendors, "
            f"{scale.requests:,} requests ...",
            flush=True,
        )
        seeded = seed_organization(scale, log=lambda line: print(f"  {line}", flush=True))
        started = time.perf_counter()
        vacuum_analyze()
        analyze_seconds = time.perf_counter() - started
        print(
            f"seeded {sum(seeded.rows.values()):,} rows in {seeded.seconds:.1f} s "
            f"(VACUUM ANALYZE {analyze_seconds:.1f} s)",
            flush=True,
        )
        for table, count in seeded.rows.items():
            print(f"  {table:42} {count:>9,}")

        users = get_user_model().objects.in_bulk(
            [seeded.security_username, seeded.requester_username, seeded.auditor_username],
            field_name="username",
        )
        clients = {}
        for role, username in (
            ("security", seeded.security_username),
            ("requester", seeded.requester_username),
            ("auditor", seeded.auditor_username),
        ):
            clients[role] = Client()
            clients[role].force_login(users[username])

        results = []
        with override_settings(ROOT_URLCONF="bench.floors"):
            for target in _targets(seeded.showcase_request_id):
                results.append(_measure(target, clients, args.runs))
                print(f"  measured {target.name}", flush=True)
    print()
    _print_table(results)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "pages",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "scale": asdict(scale),
        "seed_seconds": round(seeded.seconds, 1),
        "vacuum_analyze_seconds": round(analyze_seconds, 1),
        "rows": seeded.rows,
        "runs": args.runs,
        "targets": {"max_queries": MAX_QUERIES, "max_ratio": MAX_RATIO},
        "results": [asdict(r) | {"verdict": _verdict(r)} for r in results],
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
