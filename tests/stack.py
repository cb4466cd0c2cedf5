"""The whole portal as separate processes (issue 7, "Must show"), for tests/integration and
tests/e2e: their conftest files import these fixtures.

Each test module gets a `Stack`: a fake GitHub (real smart-HTTP pushes, the pull-request REST
API, signed webhooks) serving a Substrate repository, and the environment that a Celery worker
and gunicorn need to reach it, this session's PostgreSQL test database and Redis. Workers run
with `CELERY_TASK_ALWAYS_EAGER=false`; this process sends their tasks through Redis.

Short waits make faults cheap to test: retries back off from 1 s, and Redis hands a killed
worker's unacknowledged task to another worker after `VISIBILITY_TIMEOUT` seconds.

Every process logs into `Stack.logs` (gunicorn with LOG_LEVEL=DEBUG; workers at the
Procfile's INFO unless a test asks for more), and mail goes to files in `Stack.mail`, so
that `tests/integration/secret_places.py` can search everything a deployment would keep.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from inventory.models import AwsAccount
from tests.fakes.aws_throttle import AwsFaultProxy
from tests.fakes.github import FakeGitHub
from tests.fixtures.substrate_repo import FixtureRepo, build_repo
from tests.processes import ROOT, running, venv_command, wait_until
from tests.services import Services, free_port, wait_for_port

# Marker-like values, so that a search for them cannot match anything by chance.
FORGE_TOKEN = "ghs_integrationFORGEtoken7Q2vX9kLm3Np"
WEBHOOK_SECRET = "whsec_integrationWEBHOOKsecret4Hd8Rt"
VISIBILITY_TIMEOUT = 4
LINK = re.compile(rb"(http://127\.0\.0\.1:\d+/keys/([A-Za-z0-9_-]{43})/)")


@dataclass
class Aws:
    """The AWS emulator process and the fault-injecting proxy the portal reaches it through."""

    emulator_url: str
    proxy: AwsFaultProxy


@dataclass
class Stack:
    """What one test module's processes share."""

    root: Path
    github: FakeGitHub
    substrate: FixtureRepo
    env: dict[str, str]
    logs: Path
    mail: Path
    var: Path
    web_port: int
    aws: Aws | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def worker_log(self, name: str) -> Path:
        return self.logs / f"worker-{name}.log"

    def all_worker_logs(self) -> str:
        """What every worker of the module logged: a task may run on any of them."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker-*")))


def iam(stack: Stack):  # type: ignore[no-untyped-def]
    """IAM of the emulator, straight (not through the fault proxy): Terraform's and the
    auditor's view."""
    assert stack.aws is not None
    return boto3.client(
        "iam",
        endpoint_url=stack.aws.emulator_url,
        region_name="us-east-1",
        aws_access_key_id="terraform",
        aws_secret_access_key="terraform",  # the emulator takes any
    )


def link_in_mail(stack: Stack) -> tuple[str, str]:
    """The one-time link (and its token) from the e-mail the worker wrote to the mail folder."""
    found = [m for p in stack.mail.glob("*") for m in LINK.finditer(p.read_bytes())]
    urls = {m.group(1).decode() for m in found}
    assert len(urls) == 1, urls  # one link, in the text and the HTML part
    match = found[0]
    return match.group(1).decode(), match.group(2).decode()


def _wait_ready(log: Path, proc: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited:\n{log.read_text(errors='replace')[-4000:]}")
        return log.exists() and " ready." in log.read_text(errors="replace")

    wait_until(ready, timeout=60, what="the worker to be ready", log=log)


@contextlib.contextmanager
def aws_emulator(root: Path, env: dict[str, str]) -> Iterator[Aws]:
    """`manage.py aws_emulator` (the Procfile's `aws`) on a free port, behind the proxy."""
    port = free_port()
    log = root / "logs" / "aws-emulator.log"
    command = [sys.executable, "manage.py", "aws_emulator", "--port", str(port), "--no-sync"]
    with running(command, env, log) as proc:

        def serving() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the emulator exited:\n{log.read_text(errors='replace')}")
            return "Serving" in log.read_text(errors="replace")

        wait_until(serving, timeout=60, what="the AWS emulator", log=log)
        emulator_url = f"http://127.0.0.1:{port}"
        with AwsFaultProxy(emulator_url) as proxy:
            yield Aws(emulator_url, proxy)


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    services: Services,
    django_db_setup: None,
) -> Iterator[Stack]:
    """The module's stack; a module with `USES_AWS = True` also gets the AWS emulator."""
    from django.db import connection

    root = tmp_path_factory.mktemp("integration")
    logs, mail, var = root / "logs", root / "mail", root / "var"
    for folder in (logs, mail, var):
        folder.mkdir()
    web_port = free_port()
    substrate = build_repo(root / "substrate", version="2024.08")
    with FakeGitHub(
        root / "github", owner="example", name="substrate", token=FORGE_TOKEN
    ) as github:
        github.commit_directory(substrate.root)
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": (
                    f"postgres://app@127.0.0.1:{services.pg_port}/"
                    f"{connection.settings_dict['NAME']}"
                ),
                "DJANGO_SETTINGS_MODULE": "accessportal.settings",  # production's, not the tests'
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "CELERY_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "PORTAL_TASK_RETRY_SECONDS": "1",
                "PYTHONPATH": str(ROOT),
                "PORTAL_VAR_DIR": str(var),
                "EMAIL_URL": f"filemail:///{mail}",
                "LOG_LEVEL": "DEBUG",
                "FORGE": "github",
                "FORGE_API_URL": github.api_url,
                "FORGE_REPOSITORY": f"{github.owner}/{github.name}",
                "FORGE_TOKEN": FORGE_TOKEN,
                "FORGE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                # No credentials in the URL: the worker authenticates git with FORGE_TOKEN.
                "SUBSTRATE_REPO_URL": github.git_url,
                "SUBSTRATE_DEFAULT_BRANCH": "main",
                "PORTAL_BASE_URL": f"http://127.0.0.1:{web_port}",
                "AWS_ADMIN_ROLE_ARN": "",
            }
        )
        stack = Stack(root, github, substrate, env, logs, mail, var, web_port)
        with contextlib.ExitStack() as exits:
            if getattr(request.module, "USES_AWS", False):
                stack.aws = exits.enter_context(aws_emulator(root, env))
                env["AWS_ENDPOINT_URL"] = stack.aws.proxy.url
            yield stack


@pytest.fixture(autouse=True)
def _portal_settings(request: pytest.FixtureRequest, settings) -> None:  # type: ignore[no-untyped-def]
    """This process (which approves and reads pages) configured like the worker and web."""
    if "stack" not in request.fixturenames:
        return
    stack: Stack = request.getfixturevalue("stack")
    settings.FORGE = "github"
    settings.FORGE_API_URL = stack.env["FORGE_API_URL"]
    settings.FORGE_REPOSITORY = stack.env["FORGE_REPOSITORY"]
    settings.FORGE_TOKEN = FORGE_TOKEN
    settings.FORGE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.SUBSTRATE_REPO_URL = stack.env["SUBSTRATE_REPO_URL"]
    settings.SUBSTRATE_DEFAULT_BRANCH = "main"
    settings.VAR_DIR = stack.var
    settings.PORTAL_BASE_URL = stack.web_url
    if stack.aws is not None:
        # This process plays Terraform and the auditor: it talks to the emulator directly.
        settings.AWS_ENDPOINT_URL = stack.aws.emulator_url
        settings.AWS_ADMIN_ROLE_ARN = ""


@pytest.fixture(scope="module")
def through_redis() -> Iterator[None]:
    """Tasks sent from this process go through Redis to the workers instead of running here."""
    from accessportal.celery import app

    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@contextlib.contextmanager
def worker_process(
    stack: Stack, name: str, *args: str, procfile: str = "worker"
) -> Iterator[subprocess.Popen[bytes]]:
    """A named Celery worker process (the Procfile's `procfile` command, then `args`), ready
    to work."""
    log = stack.worker_log(name)
    command = [*venv_command(procfile), "--hostname", f"{name}@%h", *args]
    with running(command, stack.env, log) as proc:
        _wait_ready(log, proc)
        yield proc


@contextlib.contextmanager
def beat_process(stack: Stack, **settings: str) -> Iterator[subprocess.Popen[bytes]]:
    """Celery beat (the Procfile's command) sending the periodic tasks to the workers, with
    `settings` (e.g. a shorter PORTAL_KEY_POLL_SECONDS) added to its environment."""
    log = stack.logs / "beat.log"
    with running(venv_command("beat"), {**stack.env, **settings}, log) as proc:

        def started() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"beat exited:\n{log.read_text(errors='replace')}")
            return "beat: Starting..." in log.read_text(errors="replace")

        wait_until(started, timeout=60, what="beat to start", log=log)
        yield proc


@pytest.fixture
def start_worker(
    stack: Stack, through_redis: None
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts named workers for one test; those still running at its end are stopped."""
    with contextlib.ExitStack() as exits:
        yield lambda name, *args: exits.enter_context(worker_process(stack, name, *args))


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown handler runs, the broker gets no acknowledgement."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


# The production topology: several web processes and several workers taking the same queue.
WEB_WORKERS = 3
CELERY_WORKERS = ("main", "peer")


@pytest.fixture(scope="module")
def worker(stack: Stack, through_redis: None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two workers on the default queue for the whole module: any task may run on either."""
    with contextlib.ExitStack() as exits:
        yield [exits.enter_context(worker_process(stack, name)) for name in CELERY_WORKERS]


@pytest.fixture(scope="module")
def reports_worker(stack: Stack, through_redis: None) -> Iterator[subprocess.Popen[bytes]]:
    """The Procfile's worker of the reports queue (PDF binders), for the whole module."""
    with worker_process(stack, "reports", procfile="reports") as proc:
        yield proc


@pytest.fixture(scope="module")
def web(stack: Stack) -> Iterator[str]:
    """gunicorn (the Procfile's command, with WEB_WORKERS processes) serving the portal; the fake
    GitHub's webhooks go to it."""
    port = stack.web_port
    env = {**stack.env, "PORTAL_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WEB_WORKERS)}
    with running(venv_command("web"), env, stack.logs / "web.log"):
        wait_for_port(port, timeout=60)
        stack.github.webhook_url = f"{stack.web_url}/webhooks/github/"
        stack.github.webhook_secret = WEBHOOK_SECRET
        yield stack.web_url


@pytest.fixture
def substrate(stack: Stack, transactional_db: None) -> FixtureRepo:
    """The stack's Substrate organization, in the account inventory (emptied after each test)."""
    for a in stack.substrate.services():
        AwsAccount.objects.create(
            account_id=a.id,
            name=f"{a.domain}-{a.environment}-{a.quality}",
            account_type="service",
            domain=a.domain,
            environment=a.environment,
            quality=a.quality,
            status="active",
        )
    return stack.substrate
