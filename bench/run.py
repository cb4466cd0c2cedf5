"""`make bench`: runs every benchmark in this folder, one after the other.

Each benchmark prints its own numbers and ratios and writes a JSON file under var/bench/.
Benchmarks never fail on a slow machine: their exit code says only whether they ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.stem}", flush=True)
        # The scripts are this folder's own files, run with this interpreter.
        result = subprocess.run([sys.executable, str(script)], check=False)  # noqa: S603
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
