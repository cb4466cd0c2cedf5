"""Benchmark: the portal's pages and exports at the size of a large organization.

Run with `.venv/bin/python bench/bench_pages.py` (or `make bench`). Starts a private PostgreSQL,
migrates, seeds an organization (by default 1,000 accounts, 5,000 vendors with reviews, 100,000
requests with approvals and audit events; `BENCH_ACCOUNTS`, `BENCH_VENDORS`, `BENCH_REQUESTS`
or the options change it), then requests each page through Django's test client as a signed-in
user and records:

- the number of SQL queries of one request (the targets: at most 15, the same at any size);
- the median time of `BENCH_RUNS` requests, after two warm-up requests, alternating with
  the floor's requests so that both see the same load;
- the same for the page's floor (`bench/floors.py`: the same rows with values(), no template)
  and the ratio page / floor (the target: at most 3);
- for exports: one run each (they take seconds to minutes), in a forked process given
  `BENCH_EXPORT_SECONDS` (default 2400: the PDF binder takes a quarter of an hour) to finish;
  the floor is PostgreSQL's COPY of the same joined rows; the peak memory is the process's
  resident-set high-water mark above where it started, for all rows and for a smaller
  selection (the target: flat as rows grow).

Pages that another branch has not delivered yet (the access map, the exports) are looked up by
URL name and reported as "not built" when absent. Prints a table and writes var/bench/pages.json.
Not a test: nothing here fails on a slow machine; the exit code says only whether it ran.
The portal's modules are imported inside the functions: the script configures and sets up
Django itself (its own database) before anything that reads settings or models is imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import re
import statistics
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

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
    # Exports: fewer timed runs (they take seconds), no warm-up, and the peak memory measured
    # again with `smaller_query` (fewer rows) to show whether it grows with the rows.
    export: bool = False
    smaller_query: str = ""
    # The PDF binder: prepared by a worker (reports/exports.py `export_run`), measured as that
    # job; `smaller_query` then names the tier of the smaller run.
    binder: bool = False
    # The export's floor is the same cells written by the fastest constant-memory XLSX writer
    # (`bench/floors.py`), timed in the same run.
    xlsx_floor: bool = False
    # The ratio page / floor this target must stay within (issue 21: CSV 1.5x COPY, XLSX 2x).
    max_ratio: float = MAX_RATIO
    # Why the page costs more than its floor, as far as the measurements and profiles showed;
    # printed under the verdict when a target is missed.
    why: str = ""


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
    notes: list[str] = field(default_factory=list)  # problems: they make the verdict a miss
    job: bool = False  # a worker's job (the PDF binder), not a request
    info: list[str] = field(default_factory=list)
    why: str = ""
    max_ratio: float = MAX_RATIO


QUICK = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
# BENCH_QUICK=1: a small organization and fewer runs, for everyday use (bench/README.md).
QUICK_SCALE = {"accounts": 100, "vendors": 500, "requests": 5000, "runs": 5}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _consume(response: Any) -> int:
    if getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def _timed(gets: list[Callable[[], Any]], runs: int) -> list[tuple[int, int, int, float]]:
    """For each of `gets` (a page and its floor): (status, bytes, queries of one request,
    median seconds over `runs` requests). The requests alternate, page then floor, so that a
    machine shared with other work slows both alike and the ratio stays meaningful."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARM_UP):
        for get in gets:
            _consume(get())
    counted = []
    for get in gets:
        with CaptureQueriesContext(connection) as captured:
            response = get()
            size = _consume(response)
        # Read now: the list is a view of the connection's log, which the next request clears.
        counted.append((response.status_code, size, len(captured.captured_queries)))
    samples: list[list[float]] = [[] for _ in gets]
    for _ in range(runs):
        for index, get in enumerate(gets):
            started = time.perf_counter()
            _consume(get())
            samples[index].append(time.perf_counter() - started)
    return [(*c, statistics.median(s)) for c, s in zip(counted, samples, strict=True)]


def _copy(sql: str, runs: int) -> tuple[int, float]:
    """(bytes, median seconds) to COPY the rows of `sql` out of PostgreSQL as CSV."""
    from django.db import connection

    samples = []
    size = 0
    for _ in range(1 + runs):
        started = time.perf_counter()
        size = 0
        with connection.cursor() as wrapper:
            copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
            with wrapper.cursor.copy(copy_sql) as copy:
                for chunk in copy:
                    size += len(chunk)
        samples.append(time.perf_counter() - started)
    return size, statistics.median(samples[1:])


def _xlsx_floor(get: Callable[[], Any], runs: int) -> tuple[int, list[str], dict[str, float]]:
    """(bytes, the sheets' row counts, median seconds of each writer in `floors.XLSX_WRITERS`)
    writing the cells of the export's workbook (fetched once, not timed) to a temporary file."""
    import tempfile

    from bench.floors import XLSX_WRITERS, workbook_cells

    response = get()
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    sheets = workbook_cells(content)
    shape = [f"{title}: {len(rows):,} rows" for title, rows in sheets]
    medians = {}
    for name, write in XLSX_WRITERS.items():
        samples = []
        for _ in range(max(1, runs)):
            with tempfile.TemporaryFile() as out:
                started = time.perf_counter()
                write(sheets, out)
                samples.append(time.perf_counter() - started)
        medians[name] = statistics.median(samples)
    return len(content), shape, medians


def _status_kib(name: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    match = re.search(rf"^{name}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def _export_run(get: Callable[[], Any]) -> tuple[int, int, int, float, int]:
    """(status, bytes, queries, seconds, peak KiB above the starting RSS) of one response read
    to the end (`_measured_run`)."""

    def read() -> tuple[int, int]:
        response = get()
        return response.status_code, _consume(response)

    return _measured_run(read)


def _measured_run(work: Callable[[], tuple[int, int]]) -> tuple[int, int, int, float, int]:
    """(status, bytes, queries, seconds, peak KiB above the starting RSS) of `work`, which
    returns (status, bytes). The peak is the resident set's high-water mark, reset first
    (Linux clear_refs), so it counts C allocations too (openpyxl's XML, WeasyPrint's layout)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        status, size = work()
        seconds = time.perf_counter() - started
    queries = len(captured.captured_queries)
    return status, size, queries, seconds, _status_kib("VmHWM") - before


def _binder_run(tier: str) -> tuple[int, int, int, float, int]:
    """`_measured_run`'s figures for the PDF binder job of an auditor's export (all tiers, or
    `tier`): the worker's `export_run`, from claiming the export to saving the file."""
    # Imported here: this script sets Django up itself, on its own database, before any of
    # the portal's models may be imported (the module docstring).
    from django.contrib.auth import get_user_model

    from accessportal.roles import Role
    from reports.exports import export_run
    from reports.models import ReportExport
    from reports.subprocessors import report_params

    auditor = get_user_model().objects.filter(groups__name=Role.AUDITORS).earliest("pk")
    params = report_params(tier=tier)
    export = ReportExport.objects.create(
        requested_by=auditor, as_of=params.as_of, period_start=params.period_start, tier=tier
    )

    def run() -> tuple[int, int]:
        export_run(export_id=str(export.pk))
        export.refresh_from_db()
        print(f"  PDF binder ({tier or 'all tiers'}): {export.pages} pages", flush=True)
        return 200 if export.status == ReportExport.Status.DONE else 500, export.size or 0

    return _measured_run(run)


Measured = TypeVar("Measured")


def _in_child(work: Callable[[], Measured], seconds: float) -> Measured | None:
    """Runs `work` in a forked copy of this process and returns its result, or None when it
    does not finish within `seconds` (the copy is then killed). A slow export (the PDF lays out
    a page per few rows) thus costs the run a bounded time, and each memory peak is measured
    in a process of its own."""
    from django.db import connections

    connections.close_all()  # the copy opens its own connection; this one reconnects later
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=lambda: sender.send(work()))
    process.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if receiver.poll(1):
                result: Measured = receiver.recv()
                return result
            if not process.is_alive():
                raise RuntimeError(f"the measuring process failed (exit {process.exitcode})")
        return None
    finally:
        if process.is_alive():
            process.kill()
        process.join()


def _targets(showcase_request_id: int) -> list[Target]:
    """Every target, or only those named in `BENCH_ONLY` (comma-separated names, e.g.
    "request list,admin request list"): measuring one page while working on it need not wait
    for the exports."""
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    targets = _all_targets(showcase_request_id)
    unknown = only - {target.name for target in targets}
    if unknown:
        raise SystemExit(f"BENCH_ONLY names no target: {', '.join(sorted(unknown))}")
    return [target for target in targets if not only or target.name in only]


def _all_targets(showcase_request_id: int) -> list[Target]:
    from bench.floors import SUBPROCESSOR_ROWS_SQL

    return [
        Target("dashboard", "dashboard", "security", floor_url_name="floor_dashboard"),
        Target(
            "request list",
            "approvals:requests",
            "requester",
            floor_url_name="floor_request_list",
            why="25 model instances with their vendor's name, the portal's base template "
            "(navigation, account menu) and the signed-in user's roles, against a floor of 25 "
            "tuples that takes about 3 ms; the page's own cost is a few milliseconds.",
        ),
        Target("vendor list", "vendors:list", "security", floor_url_name="floor_vendor_list"),
        Target(
            "access map",
            "reports:access_map",
            "security",
            floor_url_name="floor_access_map",
            why="the page builds and renders a grid of 25 vendors by up to 80 accounts, one "
            "cell at a time; the floor writes the same rows flat.",
        ),
        Target(
            "admin request list",
            "admin:approvals_accessrequest_changelist",
            "security",
            floor_url_name="floor_admin_request_list",
            why="the admin's page around the 100 rows: its permission queries and app list "
            "(the navigation sidebar), the filter sidebar with eight filters' links, the "
            "sortable headers; the rows themselves are written a row at a time. The floor "
            "writes 100 tuples.",
        ),
        Target(
            "request page",
            "approvals:request_detail",
            "security",
            args=(showcase_request_id,),
            floor_url_name="floor_request_detail",
        ),
        Target(
            "CSV export",
            "reports:subprocessors",
            "auditor",
            query="format=csv",
            copy_floor_sql=SUBPROCESSOR_ROWS_SQL,
            export=True,
            max_ratio=1.5,
            smaller_query="format=csv&tier=critical",
            why="the report rebuilds each vendor and grant as of the date from audit "
            "snapshots, batch by batch of 500 vendors (12 queries a batch, everything read as "
            "plain values), in one walk that also hashes the rows for the header; about half "
            "the time is the database's, mostly the three as-of subqueries of each of a "
            "batch's thousands of live grants, the rest building the cells of 50,000 grants. "
            "Memory follows the rows held per batch. COPY streams one joined statement.",
        ),
        Target(
            "XLSX export",
            "reports:subprocessors",
            "auditor",
            query="format=xlsx",
            export=True,
            xlsx_floor=True,
            max_ratio=2.0,
            smaller_query="format=xlsx&tier=critical",
            why="the CSV's rows plus three appendices written cell by cell; Appendix A has "
            "one line per request (the CSV's approval-trail part has every event).",
        ),
        Target(
            "PDF binder",
            "reports:subprocessors",
            "auditor",
            query="format=pdf",
            export=True,
            binder=True,
            smaller_query="tier=critical",
            why="a worker's job (reports/exports.py), not a request: WeasyPrint lays out "
            "about six pages a second (a vendor with its grants takes half a page; Appendix "
            "A is a line per live or changed request), in parts of 200 vendors or 1,500 "
            "lines so that memory stays flat.",
        ),
    ]


def _measure(target: Target, clients: dict[str, Any], runs: int, export_seconds: float) -> Result:
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse(target.url_name, args=target.args)
    except NoReverseMatch:
        return Result(target.name, None, notes=[f"not built: no URL named {target.url_name}"])
    if target.query:
        url = f"{url}?{target.query}"
    client = clients[target.user]
    result = Result(target.name, url, why=target.why, job=target.binder, max_ratio=target.max_ratio)
    if target.export:
        # One run per export, in a process of its own: the time, the queries and the memory.
        if target.binder:
            run = _in_child(lambda: _binder_run(""), export_seconds)
        else:
            run = _in_child(lambda: _export_run(lambda: client.get(url)), export_seconds)
        if run is None:
            result.notes.append(f"did not finish within {export_seconds:.0f} s")
            return result
        status, size, queries, median, peak = run
        result.peak_memory_kib[f"all rows, {size:,} bytes"] = peak
    else:
        gets = [lambda: client.get(url)]
        if target.floor_url_name:
            floor_url = reverse(target.floor_url_name, args=target.args)
            gets.append(lambda: client.get(floor_url))
        measured = _timed(gets, runs)
        status, size, queries, median = measured[0]
        if len(measured) > 1:
            _, _, floor_queries, floor_median = measured[1]
            result.floor_queries = floor_queries
            result.floor_median_ms = round(floor_median * 1000, 2)
            result.ratio = round(median / floor_median, 2)
    result.status, result.bytes, result.queries = status, size, queries
    result.median_ms = round(median * 1000, 2)
    if status != 200:
        result.notes.append(f"HTTP {status}")
    if target.copy_floor_sql:
        floor_bytes, floor_median = _copy(target.copy_floor_sql, runs)
        result.floor_queries = 1
        result.floor_median_ms = round(floor_median * 1000, 2)
        result.ratio = round(median / floor_median, 2)
        result.info.append(f"the floor's COPY wrote {floor_bytes:,} bytes")
    if target.xlsx_floor:
        # In a process of its own, as the export: the cells held in memory do not weigh on
        # the other measurements. Three runs of each writer (they take seconds at full size).
        floor = _in_child(lambda: _xlsx_floor(lambda: client.get(url), 3), export_seconds)
        if floor is None:
            result.notes.append("the XLSX floor did not finish")
        else:
            floor_bytes, shape, medians = floor
            writer, floor_median = min(medians.items(), key=lambda item: item[1])
            result.floor_queries = 0
            result.floor_median_ms = round(floor_median * 1000, 2)
            result.ratio = round(median / floor_median, 2)
            result.info.append(f"the floor writes the export's {floor_bytes:,}-byte workbook's")
            result.info.append(f"cells ({'; '.join(shape)}); the faster writer: {writer}")
            for name, seconds in medians.items():
                result.info.append(f"  {name}: {seconds * 1000:,.1f} ms")
    if target.binder:
        tier = target.smaller_query.removeprefix("tier=")
        run = _in_child(lambda: _binder_run(tier), export_seconds)
        if run is not None:
            result.peak_memory_kib[f"{target.smaller_query}, {run[1]:,} bytes"] = run[4]
    elif target.export and target.smaller_query:
        smaller = url.split("?")[0] + "?" + target.smaller_query
        run = _in_child(lambda: _export_run(lambda: client.get(smaller)), export_seconds)
        if run is not None:
            result.peak_memory_kib[f"{target.smaller_query}, {run[1]:,} bytes"] = run[4]
    return result


def _verdict(result: Result) -> str:
    if result.median_ms is None:
        return result.notes[0] if result.notes else "not measured"
    missed = []
    # The PDF binder is a worker's job, not a page: the pages' ceiling does not apply.
    if result.queries is not None and result.queries > MAX_QUERIES and not result.job:
        missed.append(f"{result.queries} queries > {MAX_QUERIES}")
    if result.ratio is not None and result.ratio > result.max_ratio:
        missed.append(
            f"{result.ratio / result.max_ratio:.1f}x over the {result.max_ratio:g}x target"
        )
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
            print(f"{'':20} peak memory ({label}): {kib:,.0f} KiB")
        for line in r.info:
            print(f"{'':20} {line}")
        if r.why and _verdict(r) != "ok":
            for line in textwrap.wrap(f"why: {r.why}", 80):
                print(f"{'':20} {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    full = {"accounts": 1000, "vendors": 5000, "requests": 100_000, "runs": 15}
    default = QUICK_SCALE if QUICK else full
    for name in ("accounts", "vendors", "requests", "runs"):
        parser.add_argument(
            f"--{name}", type=int, default=_env_int(f"BENCH_{name.upper()}", default[name])
        )
    parser.add_argument(
        "--export-seconds",
        type=int,
        default=_env_int("BENCH_EXPORT_SECONDS", 2400),
        help="give up on an export measurement after this long",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "pages.json")
    args = parser.parse_args()

    # WeasyPrint logs a line per page laid out.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    with django_on_private_postgres():
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.test.utils import override_settings

        from bench.seed import Scale, seed_organization, vacuum_analyze

        _targets(0)  # a misspelt BENCH_ONLY fails now rather than after seeding

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
                started = time.perf_counter()
                results.append(_measure(target, clients, args.runs, args.export_seconds))
                took = time.perf_counter() - started
                print(f"  measured {target.name} in {took:.1f} s", flush=True)
    print()
    _print_table(results)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "pages",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "scale": asdict(scale),
        "quick": QUICK,
        "seed_seconds": round(seeded.seconds, 1),
        "vacuum_analyze_seconds": round(analyze_seconds, 1),
        "rows": seeded.rows,
        "runs": args.runs,
        "export_seconds": args.export_seconds,
        "targets": {"max_queries": MAX_QUERIES, "max_ratio": MAX_RATIO},
        "results": [asdict(r) | {"verdict": _verdict(r)} for r in results],
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
