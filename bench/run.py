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
