"""`make bench`: runs every benchmark in this folder, one after the other, then sums them up.

Each benchmark prints its own numbers and ratios and writes a JSON file under var/bench/; this
script then prints one line per measured thing against its target and writes the same lines to
var/bench/summary.txt. Benchmarks never fail on a slow machine: the exit code says only whether
they ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "var" / "bench"


def _met(verdict: str) -> str:
    """A benchmark's verdict as the summary says it: "met", or what was missed."""
    return "met" if verdict == "ok" else verdict


# BENCH_QUICK=1: every benchmark at a small size (each reads its own defaults from it; these
# are the sizes of the ones that read plain variables), so that `make bench` takes minutes.
QUICK_ENVIRONMENT = {"BENCH_VERIFY_ACCOUNTS": "100"}


def _summary(started: float) -> list[str]:
    """One line per page, export, change set and IAM read-back, from the result files this
    run wrote."""
    lines = []
    pages = RESULTS / "pages.json"
    if pages.is_file() and pages.stat().st_mtime >= started:
        report = json.loads(pages.read_text(encoding="utf-8"))
        scale = report["scale"]
        lines.append(
            f"pages at {scale['accounts']:,} accounts, {scale['vendors']:,} vendors, "
            f"{scale['requests']:,} requests (seeded in {report['seed_seconds']} s):"
        )
        for r in report["results"]:
            if r["median_ms"] is None:
                lines.append(f"  {r['name']:20} {r['verdict']}")
                continue
            ratio = f"{r['ratio']:.2f}x floor" if r["ratio"] is not None else "no floor"
            # A worker's job (the PDF binder) has neither a floor nor the pages' query ceiling.
            targets = []
            if r["ratio"] is not None:
                targets.append(f"{r.get('max_ratio', report['targets']['max_ratio']):g}x")
            if not r.get("job"):
                targets.append(f"{report['targets']['max_queries']} queries")
            target = "target " + ", ".join(targets) if targets else "no target"
            lines.append(
                f"  {r['name']:20} {r['queries']:3} queries  {r['median_ms']:8.1f} ms  "
                f"{ratio:>12}  ({target})  {_met(r['verdict'])}"
            )
    changeset = RESULTS / "changeset.json"
    if changeset.is_file() and changeset.stat().st_mtime >= started:
        report = json.loads(changeset.read_text(encoding="utf-8"))
        lines.append(f"change sets (target {report['target_seconds']} s):")
        for r in report["results"]:
            verdict = "met" if r["median_seconds"] <= report["target_seconds"] else "MISSED"
            cpu = r.get("median_cpu_seconds")
            cpu_text = f" (CPU {cpu * 1000:7.1f} ms)" if cpu is not None else ""
            lines.append(
                f"  {r['strategy']:17} {r['dialect']:12} {r['accounts']:5} accounts  "
                f"{r['median_seconds'] * 1000:8.1f} ms{cpu_text}  {verdict}"
            )
    verify = RESULTS / "verify.json"
    if verify.is_file() and verify.stat().st_mtime >= started:
        report = json.loads(verify.read_text(encoding="utf-8"))
        scale = report["scale"]
        lines.append(
            f"IAM read back from {scale['accounts']:,} accounts x {scale['roles_per_account']} "
            f"roles ({report['workers']} workers; seeded in {report['seed_seconds']} s):"
        )
        for r in report["results"]:
            ratio = f"{r['ratio']:.2f}x floor" if r["ratio"] is not None else "no floor"
            lines.append(
                f"  {r['name']:17} {r['seconds']:7.1f} s  "
                f"{r['seconds_per_account'] * 1000:6.1f} ms/account  "
                f"{r['calls_per_account']:5.2f} calls/account  {r['throttled']:4} throttled  "
                f"{ratio:>12}  {_met(r['verdict'])}"
            )
    lines += _binder_engines_summary(started)
    lines += _load_summary(started)
    return lines


def _binder_engines_summary(started: float) -> list[str]:
    """bench_binder_engines.py: one line per PDF engine on the same binder."""
    path = RESULTS / "binder_engines.json"
    if not path.is_file() or path.stat().st_mtime < started:
        return []
    report = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"PDF binder engines at {report['vendors']:,} vendors "
        f"(target {report['target_seconds']} s at 5,000):"
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"  {r['engine']:11} failed: {r['error']}")
            continue
        has = [k for k in ("outline", "page_numbers", "count_on_cover", "tagged") if r[k]]
        verdict = "ok" if r["projected_seconds"] <= report["target_seconds"] else "MISSED"
        lines.append(
            f"  {r['engine']:11} {r['seconds']:8.2f} s  {r['pages']:5} pages  "
            f"{r['pages_per_second']:7.1f} pages/s  {r['peak_rss_mb']:7.1f} MB  "
            f"5,000 vendors ~{r['projected_seconds']:7.1f} s {verdict}  {' '.join(has)}"
        )
    return lines


def _load_summary(started: float) -> list[str]:
    """The lines of bench_load.py: throughput, errors, each page's percentiles and ratio to
    its floor under the same load, and the approval -> pull request latency."""
    load = RESULTS / "load.json"
    if not load.is_file() or load.stat().st_mtime < started:
        return []
    report = json.loads(load.read_text(encoding="utf-8"))
    pages, floors = report["pages"], report["floors"]
    errors = pages["failures"] + floors["failures"]
    lines = [
        f"load: {report['users']} users for {report['seconds']} s a phase, "
        f"{pages['rps']} req/s (floors {floors['rps']} req/s), {errors} errors "
        f"(target {report['targets']['max_errors']}) {report['errors_verdict']}:"
    ]
    for r in report["results"]:
        p = r["page"]
        ratio = (
            f"{r['ratio_p50']:.2f}x floor (target <= {report['targets']['max_ratio']})"
            if r["ratio_p50"] is not None
            else "no floor, 0 errors"
        )
        lines.append(
            f"  {r['name']:28} p50 {p['p50_ms']:6.0f} ms  p95 {p['p95_ms']:6.0f} ms  "
            f"p99 {p['p99_ms']:6.0f} ms  {ratio:>26}  {r['verdict']}"
        )
    pr = report["pr_open"]
    p95 = f"{pr['p95_seconds']:.2f} s" if pr["p95_seconds"] is not None else "-"
    lines.append(
        f"  approval -> pull request open: p95 {p95} over {pr['opened']} of "
        f"{pr['approvals']} approvals (target {pr['target_p95_seconds']} s)  {pr['verdict']}"
    )
    return lines


def main() -> int:
    started = time.time()
    failures = 0
    if os.environ.get("BENCH_QUICK", "").strip() not in ("", "0"):
        for name, value in QUICK_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        print("BENCH_QUICK: a small organization, fewer runs (bench/README.md)", flush=True)
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.stem}", flush=True)
        # The scripts are this folder's own files, run with this interpreter.
        result = subprocess.run([sys.executable, str(script)], check=False)  # noqa: S603
        failures += result.returncode != 0
    lines = _summary(started)
    if lines:
        print("\n== summary")
        print("\n".join(lines))
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {(RESULTS / 'summary.txt').relative_to(HERE.parent)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
