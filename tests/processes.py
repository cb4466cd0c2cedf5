"""Starting and stopping the portal's real processes (worker, beat, gunicorn) in tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
T = TypeVar("T")


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `args` from the repository root, logging to `log`; stops it on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, log: Path | None = None
) -> T:
    """Polls `probe` until it returns something truthy; fails with the process log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    detail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{detail}")


def procfile_commands() -> dict[str, list[str]]:
    """The commands `make run` starts, from the Procfile."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if command.strip():
            commands[name.strip()] = command.split()
    return commands


def venv_command(name: str) -> list[str]:
    """A Procfile command with its program taken from this virtualenv."""
    program, *args = procfile_commands()[name]
    return [str(BIN / program), *args]
