"""Real PostgreSQL and Redis servers for the test session, on loopback, torn down afterwards.

Each server runs from a fresh temporary folder on a free port, so the suite never touches a
developer's databases and two runs never collide. PostgreSQL refuses to run as root; when the
suite runs as root (CI), the server runs as the `postgres` system user that Debian's package
creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs it.")


def wait_for_port(port: int, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Services:
    """The running servers and how to reach them."""

    root: Path
    pg_port: int = 0
    redis_port: int = 0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _pg_cmd_prefix: list[str] = field(default_factory=list)
    _pg_data: Path | None = None

    @property
    def database_url(self) -> str:
        return f"postgres://app@127.0.0.1:{self.pg_port}/app"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}"

    def start_postgres(self) -> None:
        bindir = _pg_bindir()
        data = self.root / "pg"
        data.mkdir()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            os.chown(data, pw.pw_uid, pw.pw_gid)
            self._pg_cmd_prefix = ["runuser", "-u", "postgres", "--"]
        self.pg_port = free_port()
        run = self._pg_cmd_prefix
        subprocess.run(
            [
                *run,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "app",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.pg_port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [
                *run,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(data / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        self._pg_data = data
        subprocess.run(
            [
                *run,
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                "app",
                "app",
            ],
            check=True,
            capture_output=True,
        )

    def start_redis(self) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError("redis-server is not installed: run `make test`, which installs it.")
        self.redis_port = free_port()
        folder = self.root / "redis"
        folder.mkdir()
        proc = subprocess.Popen(
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._procs.append(proc)
        wait_for_port(self.redis_port)

    def stop(self) -> None:
        for proc in self._procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()
        if self._pg_data is not None:
            subprocess.run(
                [
                    *self._pg_cmd_prefix,
                    str(_pg_bindir() / "pg_ctl"),
                    "-D",
                    str(self._pg_data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def start_services() -> Services:
    """Starts PostgreSQL and Redis; the caller stops them."""
    services = Services(root=Path(tempfile.mkdtemp(prefix="portal-test-services-")))
    try:
        services.start_postgres()
        services.start_redis()
    except BaseException:
        services.stop()
        raise
    return services
