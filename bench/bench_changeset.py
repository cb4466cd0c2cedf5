"""Benchmark: generating change sets for a grant over 1,000 accounts (target: under 1 second).

Run with `.venv/bin/python bench/bench_changeset.py [--accounts N] [--runs N]`. Builds a fixture
repository with N service accounts (10 domains) in a temporary folder, then times
`generate_changeset` for role_per_account and iam_user grants over every account, in both
dialects, each from a cold `RepoLayout` (nothing cached between runs). Prints the median of
the runs and its ratio to the target, and writes the results to var/bench/changeset.json.
Not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from provisioning.substrate import (  # noqa: E402  (path set up just above)
    Grant,
    Options,
    RepoLayout,
    Strategy,
    TargetAccount,
    generate_changeset,
)
from tests.fixtures.substrate_repo import build_large_repo  # noqa: E402

TARGET_SECONDS = 1.0
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::exports"}
    ],
}


def _grant(strategy: Strategy, accounts: tuple[TargetAccount, ...]) -> Grant:
    vendor_trust = strategy is not Strategy.IAM_USER
    return Grant(
        vendor="benchvendor",
        strategy=strategy,
        role_name="BenchVendorReadOnly",
        principals=("arn:aws:iam::123456789012:role/Bench",) if vendor_trust else (),
        external_id="bench-external-id" if vendor_trust else None,
        accounts=accounts,
        managed_policy_arns=(READ_ONLY,),
        inline_policy=INLINE,
        request_id="BENCH-1",
        description="Benchmark grant",
    )


def _time(root: Path, grant: Grant, options: Options, runs: int) -> tuple[float, float, int]:
    """(median wall seconds, median CPU seconds of this process, files) over `runs` runs.

    The CPU time is what the generator itself costs: on a shared machine the wall time also
    counts the time other processes held the cores.
    """
    samples = []
    cpu_samples = []
    files = 0
    for _ in range(runs):
        start = time.perf_counter()
        cpu_start = time.process_time()
        changeset = generate_changeset(RepoLayout(root), grant, options)
        samples.append(time.perf_counter() - start)
        cpu_samples.append(time.process_time() - cpu_start)
        files = len(changeset.files)
    return statistics.median(samples), statistics.median(cpu_samples), files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "bench" / "changeset.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-substrate-") as tmp:
        started = time.perf_counter()
        repo = build_large_repo(Path(tmp) / "repo", accounts=args.accounts)
        build_seconds = time.perf_counter() - started
        accounts = tuple(
            TargetAccount(a.id, a.domain, a.environment, a.quality) for a in repo.services()
        )
        cases = [
            ("role_per_account", "terraform", Strategy.ROLE_PER_ACCOUNT, "2023.02"),
            ("role_per_account", "role-create", Strategy.ROLE_PER_ACCOUNT, "2024.08"),
            ("iam_user", "terraform", Strategy.IAM_USER, "2023.02"),
            ("iam_user", "role-create", Strategy.IAM_USER, "2024.08"),
        ]
        results = []
        print(f"fixture: {len(accounts)} service accounts, built in {build_seconds:.2f} s")
        for name, dialect, strategy, version in cases:
            options = Options(dialect=dialect, substrate_version=version)
            median, cpu, files = _time(repo.root, _grant(strategy, accounts), options, args.runs)
            ratio = median / TARGET_SECONDS
            results.append(
                {
                    "strategy": name,
                    "dialect": dialect,
                    "accounts": len(accounts),
                    "files": files,
                    "median_seconds": round(median, 4),
                    "median_cpu_seconds": round(cpu, 4),
                    "runs": args.runs,
                    "ratio_to_target": round(ratio, 3),
                }
            )
            print(
                f"{name:17} {dialect:12} {files:5} files  median {median * 1000:7.1f} ms "
                f"(CPU {cpu * 1000:7.1f} ms)  {ratio:5.2f} x the {TARGET_SECONDS:.0f} s target"
            )

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "changeset",
        "target_seconds": TARGET_SECONDS,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "results": results,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shown = args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
