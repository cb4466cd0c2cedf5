"""`manage.py aws_emulator`: the local AWS (moto's server) holding the demo organization.

`make run` starts it (Procfile `aws:`). moto keeps its state in memory, so every start seeds
the demo organization again (demo/aws_org.py); moto's random generator is seeded
first, so the accounts get the same ids on every start and the inventory stays stable. Then
the inventory is synced once in this process, so the portal shows accounts without waiting
for the scheduled sync, and the server runs until SIGINT or SIGTERM.

`demo_account_ids()` tells those ids without the emulator running (for the demo Substrate
repository that `seed_demo` creates): it replays the same seeding on a private moto server.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from approvals.models import AccessRequest
from demo.aws_org import (
    DEMO_SEED,
    KEY_DEMO_VENDOR_SLUG,
    UNAPPROVED_TRUST_ACCOUNT,
    UNAPPROVED_TRUST_PRINCIPAL,
    UNAPPROVED_TRUST_ROLE,
    demo_accounts,
    service_account_name,
)
from inventory.management.commands.sync_accounts import describe_run
from inventory.services import accounts_sync
from provisioning.aws import (
    SeedAccount,
    emulator_role_put,
    iam_user_seed,
    organization_seed,
)
from provisioning.substrate.policies import principal_trust_statement
from verification.emulator import emulator_apply, expected_for
from verification.findings import external_access_scan_scheduled
from verification.grants import verifiable_requests, verify_grants

DEFAULT_PORT = 5055


def moto_seed_random(endpoint_url: str, seed: int) -> None:
    """Makes moto's generated ids (account ids among them) deterministic from now on."""
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https"):
        raise CommandError(f"AWS_ENDPOINT_URL {endpoint_url!r} is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked just above
        f"{endpoint_url.rstrip('/')}/moto-api/seed?a={int(seed)}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the emulator, checked above
        pass


def seed_demo_organization(*, seed: int | None = DEMO_SEED) -> dict[str, str]:
    """Creates the demo organization in the emulator at `settings.AWS_ENDPOINT_URL`.

    Returns account name -> id. With `seed`, moto's ids are made deterministic first (the
    emulator must be fresh for the ids to repeat).
    """
    if not settings.AWS_ENDPOINT_URL:
        raise CommandError("AWS_ENDPOINT_URL is empty (real AWS): refusing to seed accounts")
    if seed is not None:
        moto_seed_random(settings.AWS_ENDPOINT_URL, seed)
    return organization_seed(
        SeedAccount(name=a.name, email=a.email, tags=a.tags, management=a.management)
        for a in demo_accounts()
    )


def with_aws_managed_policies() -> None:
    """From now on AWS's managed policies (ReadOnlyAccess...) exist in every account, as on
    AWS, so a grant can attach them. Only after the organization is seeded: loading them
    draws on moto's seeded random ids, and the accounts' ids must stay the ones
    `demo_account_ids` computes. IAM is empty still (the Auditor roles come next), so its
    per-account state is dropped and made anew with them."""
    # moto is the local extras only: imported where the emulator runs.
    from moto.iam.models import iam_backends

    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    iam_backends.clear()


def seed_demo_iam(ids: dict[str, str], management_id: str) -> None:
    """What Substrate and history left in the demo accounts' IAM: an Auditor role in every
    account (the portal reads AWS through it), and one trust made by hand that nobody
    approved (the external-access scan finds it)."""
    auditor_trust = [principal_trust_statement(f"arn:aws:iam::{management_id}:root")]
    read_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
    }
    for account_id in ids.values():
        emulator_role_put(
            account_id,
            "Auditor",
            trust_statements=auditor_trust,
            inline_policies={"AuditorReadIAM": read_only},
        )
    emulator_role_put(
        ids[service_account_name(*UNAPPROVED_TRUST_ACCOUNT)],
        UNAPPROVED_TRUST_ROLE,
        trust_statements=[principal_trust_statement(UNAPPROVED_TRUST_PRINCIPAL)],
        attached_policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    )


def apply_demo_grants() -> list[AccessRequest]:
    """The demo's grants that `seed_demo` made merged and applied are put into the emulator
    (its state is in memory, so each start applies them again); every other merged grant
    waits for someone to apply it, as in a real organization."""
    applied = []
    for access_request in verifiable_requests().filter(
        status__in=[AccessRequest.Status.ACTIVE, AccessRequest.Status.EXPIRING],
        pull_requests__body__startswith="Demo data: merged and applied",
    ):
        emulator_apply(expected_for(access_request))
        applied.append(access_request)
    return applied


def _moto_api(endpoint_url: str, action: str) -> None:
    url = f"{endpoint_url}/moto-api/{action}"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - our loopback server
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our loopback server
        pass


def demo_account_ids(seed: int = DEMO_SEED) -> dict[str, str]:
    """The ids a freshly started emulator gives the demo accounts (name -> id), computed here.

    Runs `seed_demo_organization` itself, the very code the emulator runs, against a private
    moto server on a free loopback port of this process, so the ids agree with the emulator's
    by construction (same moto, same seed, same requests in the same order). moto's state is
    per process: it is reset before and after, so never call this in a process that serves
    the emulator. Needs moto (the `local` extras); ImportError otherwise.
    """
    from moto.server import ThreadedMotoServer

    host = "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    endpoint = f"http://{host}:{port}"
    werkzeug = logging.getLogger("werkzeug")
    saved_level, saved_endpoint = werkzeug.level, settings.AWS_ENDPOINT_URL
    werkzeug.setLevel(logging.WARNING)  # one request log line per call otherwise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        _moto_api(endpoint, "reset")
        settings.AWS_ENDPOINT_URL = endpoint
        return seed_demo_organization(seed=seed)
    finally:
        settings.AWS_ENDPOINT_URL = saved_endpoint
        try:
            _moto_api(endpoint, "reset")
        finally:
            server.stop()
            werkzeug.setLevel(saved_level)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = (
        "Starts the AWS emulator (moto) on 127.0.0.1, seeds the demo organization with "
        "Substrate's tags, syncs the inventory once and serves until interrupted."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument(
            "--no-sync", action="store_true", help="Do not sync the inventory after seeding."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEMO_SEED,
            help="Seed for moto's ids: the same seed gives the same account ids.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise CommandError(
                "moto is not installed; install the local extras: pip install -e '.[local]'"
            ) from exc

        # Loopback only: the emulator accepts any credentials.
        host, port = "127.0.0.1", options["port"]
        if not _port_free(host, port):
            raise CommandError(f"port {port} on {host} is in use (another emulator running?)")
        endpoint = f"http://{host}:{port}"
        if settings.AWS_ENDPOINT_URL.rstrip("/") != endpoint:
            self.stderr.write(
                f"Note: AWS_ENDPOINT_URL is {settings.AWS_ENDPOINT_URL!r}; the web server and "
                f"the worker will not reach this emulator at {endpoint}."
            )
        # This process (the seeding and the first sync) talks to the emulator it starts.
        settings.AWS_ENDPOINT_URL = endpoint
        if options["verbosity"] < 2:
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

        stop = threading.Event()

        def request_stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        try:
            ids = seed_demo_organization(seed=options["seed"])
            with_aws_managed_policies()
            self.stdout.write(f"AWS emulator on {endpoint}: demo organization seeded")
            # The demo IAM-user grant is "applied": its user exists, its key is not issued yet.
            iam_user_seed(KEY_DEMO_VENDOR_SLUG)
            self.stdout.write(f"  IAM user {KEY_DEMO_VENDOR_SLUG} created in the admin account")
            management_id = next(
                ids[a.name] for a in demo_accounts() if a.management and a.name in ids
            )
            seed_demo_iam(ids, management_id)
            self.stdout.write(
                f"  Auditor role in every account; {UNAPPROVED_TRUST_ROLE} trusts "
                f"{UNAPPROVED_TRUST_PRINCIPAL} (nobody approved it)"
            )
            for name, account_id in ids.items():
                self.stdout.write(f"  {account_id}  {name}")
            if not options["no_sync"]:
                self._sync_once()
                self._apply_demo_grants()
            self.stdout.write("Serving; Ctrl-C or SIGTERM stops it.")
            self.stdout.flush()
            # A timed wait lets the signal handlers run promptly.
            while not stop.wait(timeout=1.0):
                pass
        finally:
            server.stop()
            self.stdout.write("AWS emulator stopped.")

    def _apply_demo_grants(self) -> None:
        try:
            self._read_back(apply_demo_grants())
        except Exception as exc:  # noqa: BLE001 - the emulator keeps serving; the error is shown
            self.stderr.write(f"Applying or reading back the demo's grants failed: {exc}")

    def _read_back(self, applied: list[AccessRequest]) -> None:
        for access_request in applied:
            self.stdout.write(f"  request #{access_request.pk} applied, as its commands would")
        # Read back at once, as the worker would after the commands: the pages start true.
        for check in verify_grants(verifiable_requests()):
            self.stdout.write(f"  request #{check.access_request_id} in AWS: {check.state}")
        run = external_access_scan_scheduled()
        self.stdout.write(f"  outside access scan: {run.outcome}")

    def _sync_once(self) -> None:

        try:
            run = accounts_sync(actor=None)
        except Exception as exc:  # noqa: BLE001 - the emulator keeps serving; the error is shown
            self.stderr.write(f"Initial account sync failed: {exc}")
            return
        if run.error:
            self.stderr.write(f"Initial account sync failed: {run.error}")
            return
        for line in describe_run(run):
            self.stdout.write(line)
