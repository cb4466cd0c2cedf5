"""Benchmark: reading IAM back from a large organization (issue 17, "AWS is the source of truth").

Run with `.venv/bin/python bench/bench_verify.py` (or `make bench`). Starts a private AWS
emulator (moto, `bench/emulator.py`) in a child process on a free loopback port, behind a WSGI
layer that counts every request reaching it (`bench/awscalls.py`), seeds an organization of
`BENCH_VERIFY_ACCOUNTS` (1,000) member accounts with an Auditor and 20 roles each (one of them
the vendor's grant role, trusted with an external id), then measures with `provisioning.aws`
as the portal runs it:

- verify: one role_per_account grant over every account (`expected_state`, `read_accounts`,
  `compare`), every account's verdict must be "matches";
- scan: every role of every account (`scan_accounts`, ListRoles), 22 roles per account;
- verify again with every 10th IAM request answered Throttling (boto3's standard retry mode
  backs off and retries): the verdicts must be the same, the retries are counted.

For each: wall seconds, seconds and API calls per account, and the ratio to a floor measured in
the same run, between the measured runs: the same AWS requests issued from the same number of
threads with bare boto3 clients, without the reader's error handling, its dataclasses or the
comparison. Seeding is timed apart and not counted. Writes var/bench/verify.json. A slow machine
fails nothing: the exit code is non-zero only when a result is wrong (a verdict that does not
match, a role missing from the scan, no request throttled) or the run broke. The portal's
settings are used (`AWS_ENDPOINT_URL` pointed at the emulator); no database is opened.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.awscalls import Tally  # noqa: E402  (path set up just above)

OUTPUT = ROOT / "var" / "bench" / "verify.json"
ROLES_PER_ACCOUNT = 20  # the grant's role and 19 others, besides the Auditor and AWS's own
THROTTLE_EVERY = 10
VENDOR_PRINCIPAL = "arn:aws:iam::999988887777:role/VendorReader"
EXTERNAL_ID = "bench-external-id"
GRANT_ROLE = "BenchVendorReadOnly"
VENDOR = "benchvendor"
INLINE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::exports"}
    ],
}
OTHER_ROLES = [f"Workload{n:02}" for n in range(ROLES_PER_ACCOUNT - 1)]
AUDITOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}],
}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


# --- the emulator -----------------------------------------------------------------------------


class Emulator:
    """`bench/emulator.py` in a child process: moto behind the call counter."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        # The child is this folder's own script, run with this interpreter.
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "bench" / "emulator.py"), str(port)]
        )

    def _post(self, command: str, data: dict[str, Any]) -> Any:
        request = urllib.request.Request(  # noqa: S310 (the emulator's loopback URL)
            f"{self.endpoint}/_bench/{command}",
            data=json.dumps(data).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 (loopback)
            return json.loads(response.read())

    def reset(self, throttle_every: int = 0) -> None:
        self._post("reset", {"throttle_every": throttle_every})

    def tally(self) -> Tally:
        with urllib.request.urlopen(f"{self.endpoint}/_bench/tally", timeout=60) as response:  # noqa: S310
            return Tally.from_json(json.loads(response.read()))

    def seed_roles(self, spec: dict[str, Any]) -> int:
        return int(self._post("roles", spec)["roles"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _configure_django(endpoint: str, var_dir: Path) -> None:
    """The portal's own settings, pointed at the emulator; no database is ever opened (the
    reader needs settings only), so an in-memory SQLite stands in for PostgreSQL."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "accessportal.settings",
            "DATABASE_URL": "sqlite://:memory:",
            "CELERY_BROKER_URL": "memory://",
            "CACHE_URL": "locmemcache://",
            "PORTAL_STATIC_MANIFEST": "false",
            "PORTAL_VAR_DIR": str(var_dir),
            "DJANGO_SECRET_KEY": "bench-secret-key-" + "x" * 40,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_AUDIT_ROLE_NAME": "Auditor",
            "AWS_AUDIT_ROLE_PATH": "/",
            "AWS_AUDIT_ENTRY_ROLE_ARN": "",
            # The emulator takes any key; these keep boto3 off the machine's own credentials.
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    import django

    django.setup()
    # The portal logs at INFO; a line per emulator request (werkzeug) or per new client's
    # credentials (botocore) would bury the results.
    for name in ("werkzeug", "botocore", "boto3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _seed(emulator: Emulator, count: int) -> list[str]:
    """`count` member accounts through the portal's own `organization_seed` (HTTP), then their
    roles written by the emulator itself. Returns the member ids."""
    # Imported here: the portal's modules need django.setup() (_configure) first.
    from provisioning.aws import SeedAccount, aws_client, organization_seed

    ids = organization_seed(
        SeedAccount(name=f"member{n:04}", email=f"member{n:04}@example.com", tags={})
        for n in range(count)
    )
    organization = aws_client("organizations").describe_organization()["Organization"]
    accounts = list(ids.values())
    emulator.seed_roles(
        {
            "management": organization["MasterAccountId"],
            "accounts": accounts,
            "audit_role": "Auditor",
            "audit_policy": AUDITOR_POLICY,
            "grant_role": GRANT_ROLE,
            "vendor": VENDOR,
            "vendor_principal": VENDOR_PRINCIPAL,
            "external_id": EXTERNAL_ID,
            "inline": INLINE,
            "others": OTHER_ROLES,
        }
    )
    return accounts


# --- what is measured -------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    seconds: float
    tally: Tally
    phases: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    outcome: Any = None  # what the work returned, checked afterwards


def _grant(accounts: Sequence[str]) -> Any:
    # Imported here: the portal's modules need django.setup() (_configure) first.
    from provisioning.substrate import Grant, Strategy, TargetAccount

    return Grant(
        vendor=VENDOR,
        strategy=Strategy.ROLE_PER_ACCOUNT,
        role_name=GRANT_ROLE,
        principals=(VENDOR_PRINCIPAL,),
        external_id=EXTERNAL_ID,
        accounts=tuple(TargetAccount(a, "bench", "production", "default") for a in accounts),
        inline_policy=INLINE,
        request_id="BENCH-17",
        description="Benchmark grant",
    )


def _verify(grant: Any, workers: int) -> tuple[Any, dict[str, float]]:
    """What verifying a grant costs: the expected state, every account's roles read back, the
    comparison. Returns the verdict and each phase's seconds."""
    # Imported here: the portal's modules need django.setup() (_configure) first.
    from provisioning.aws import read_accounts
    from provisioning.substrate.expected import expected_state
    from provisioning.substrate.verify import compare

    phases: dict[str, float] = {}
    start = time.perf_counter()
    expected = expected_state(grant, dialect="terraform")
    plan: dict[str, list[str]] = defaultdict(list)
    for account_id, name in expected.roles_to_read():
        plan[account_id].append(name)
    phases["expected"] = time.perf_counter() - start
    start = time.perf_counter()
    observed = read_accounts(plan, max_workers=workers)
    phases["read"] = time.perf_counter() - start
    start = time.perf_counter()
    verdict = compare(expected, [entry for entries in observed.values() for entry in entries])
    phases["compare"] = time.perf_counter() - start
    return verdict, phases


def _verify_problems(verdict: Any, accounts: Sequence[str]) -> list[str]:
    # Imported here: the portal's modules need django.setup() (_configure) first.
    from provisioning.substrate.verify import State

    problems = []
    if sorted(a.account_id for a in verdict.accounts) != sorted(accounts):
        problems.append(f"verdict covers {len(verdict.accounts)} accounts, not {len(accounts)}")
    wrong = [a for a in verdict.accounts if a.state is not State.MATCHES]
    for account in wrong[:5]:
        detail = "; ".join(account.differences) or account.message
        problems.append(f"account {account.account_id}: {account.state}: {detail}")
    if len(wrong) > 5:
        problems.append(f"... and {len(wrong) - 5} more accounts not matching")
    return problems


def _scan_problems(scanned: dict[str, Any], accounts: Sequence[str]) -> list[str]:
    wanted = {
        "Auditor",
        "OrganizationAccountAccessRole",
        GRANT_ROLE,
        *OTHER_ROLES,
    }
    problems = []
    if list(scanned) != list(accounts):
        problems.append(f"scan returned {len(scanned)} accounts, not {len(accounts)}")
    for account_id, roles in scanned.items():
        if not isinstance(roles, list):
            problems.append(f"account {account_id} unreadable: {roles.message}")
            continue
        names = {role.name for role in roles}
        if len(roles) != len(wanted) or names != wanted:
            problems.append(
                f"account {account_id}: scanned {len(roles)} roles, not {len(wanted)}; "
                f"unexpected {sorted(names - wanted)}, missing {sorted(wanted - names)}"
            )
            continue
        grant_role = next(role for role in roles if role.name == GRANT_ROLE)
        condition = grant_role.trust_policy["Statement"][0].get("Condition", {})
        if condition != {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}:
            problems.append(f"account {account_id}: grant role trust read as {condition}")
        if len(problems) >= 5:
            break
    return problems


def _measured(emulator: Emulator, name: str, work: Callable[[], Any], throttle: int = 0) -> Run:
    """Runs `work` once with the call counts reset before and read after."""
    emulator.reset(throttle_every=throttle)
    start = time.perf_counter()
    outcome = work()
    seconds = time.perf_counter() - start
    tally = emulator.tally()
    emulator.reset()
    return Run(name=name, seconds=seconds, tally=tally, outcome=outcome)


# --- the floor: the same requests with bare clients --------------------------------------------


class _Floor:
    """The same AWS requests as the reader, from the same number of threads, through bare boto3
    clients made the cheapest way (the reader's own shared model loader): no error handling,
    no dataclasses, nothing kept but what the next request needs."""

    def __init__(self, workers: int) -> None:
        import boto3
        from botocore.config import Config
        from django.conf import settings

        # Imported here: the portal's modules need django.setup() (_configure) first.
        from provisioning import aws

        self.boto3 = boto3
        self.aws = aws
        self.endpoint = settings.AWS_ENDPOINT_URL
        self.region = settings.AWS_REGION
        self.config = Config(retries={"max_attempts": aws.AUDIT_MAX_ATTEMPTS, "mode": "standard"})
        self.workers = workers
        self.sts = self._session().client("sts", endpoint_url=self.endpoint, config=self.config)

    def _session(self, **credentials: str) -> Any:
        import botocore.session

        core = botocore.session.Session()
        core.register_component("data_loader", self.aws.SHARED_LOADER)
        # Without `credentials`: the environment's placeholder key (`_configure_django`).
        return self.boto3.Session(botocore_session=core, region_name=self.region, **credentials)

    def _iam(self, account_id: str) -> Any:
        creds = self.sts.assume_role(
            RoleArn=self.aws.audit_role_arn(account_id), RoleSessionName="bench-floor"
        )["Credentials"]
        session = self._session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        return session.client("iam", endpoint_url=self.endpoint, config=self.config)

    def _read(self, account_id: str, names: Sequence[str]) -> int:
        iam = self._iam(account_id)
        documents = 0
        for name in names:
            iam.get_role(RoleName=name)
            iam.list_attached_role_policies(RoleName=name)
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
                iam.get_role_policy(RoleName=name, PolicyName=policy_name)
                documents += 1
        return documents

    def _scan(self, account_id: str) -> int:
        iam = self._iam(account_id)
        roles = 0
        kwargs: dict[str, Any] = {"MaxItems": self.aws.SCAN_PAGE_SIZE}
        while True:
            page = iam.list_roles(**kwargs)
            roles += len(page["Roles"])
            if not page.get("IsTruncated"):
                return roles
            kwargs["Marker"] = page["Marker"]

    def verify(self, plan: dict[str, list[str]]) -> int:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return sum(pool.map(self._read, plan, plan.values()))

    def scan(self, accounts: Sequence[str]) -> int:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return sum(pool.map(self._scan, accounts))


# --- report -------------------------------------------------------------------------------------


def _result(run: Run, accounts: Sequence[str], floor: Run | None) -> dict[str, Any]:
    count = len(accounts)
    low, high = run.tally.per_account(accounts)
    ratio = run.seconds / floor.seconds if floor is not None and floor.seconds > 0 else None
    return {
        "name": run.name,
        "accounts": count,
        "seconds": round(run.seconds, 3),
        "seconds_per_account": round(run.seconds / count, 5),
        "calls": run.tally.total,
        "calls_per_account": round(run.tally.total / count, 2),
        "calls_per_account_range": [low, high],
        "calls_by_action": {
            f"{service}:{action}": n for (service, action), n in sorted(run.tally.by_action.items())
        },
        # The request rate the emulator saw: what AWS's rate quotas would count.
        "calls_per_second": round(run.tally.total / run.seconds, 1) if run.seconds else None,
        "throttled": run.tally.throttled,
        "errors": run.tally.errors,
        "phases_seconds": {k: round(v, 3) for k, v in run.phases.items()},
        "floor_seconds": round(floor.seconds, 3) if floor is not None else None,
        "floor_calls": floor.tally.total if floor is not None else None,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "problems": run.problems,
        "verdict": "ok" if not run.problems else "WRONG",
    }


def _print(result: dict[str, Any]) -> None:
    ratio = f"{result['ratio']:.2f}x floor" if result["ratio"] is not None else "no floor"
    print(
        f"{result['name']:17} {result['seconds']:7.2f} s  "
        f"{result['seconds_per_account'] * 1000:6.2f} ms/account  "
        f"{result['calls_per_account']:5.2f} calls/account ({result['calls']:,})  "
        f"{result['throttled']:4} throttled  {ratio:>12}  {result['verdict']}",
        flush=True,
    )
    phases = ", ".join(f"{k} {v:.2f} s" for k, v in result["phases_seconds"].items())
    floor = (
        f"floor {result['floor_seconds']:.2f} s with {result['floor_calls']:,} calls"
        if result["floor_seconds"] is not None
        else "no floor"
    )
    print(
        f"    {result['calls_per_second']:.0f} calls/s, {result['errors']} errors; {floor}"
        + (f"; {phases}" if phases else ""),
        flush=True,
    )
    for problem in result["problems"]:
        print(f"    {problem}")


def main() -> int:
    from tests.services import free_port, wait_for_port

    count = _env_int("BENCH_VERIFY_ACCOUNTS", 1000)
    emulator = Emulator(free_port())
    try:
        wait_for_port(emulator.port)
        with tempfile.TemporaryDirectory(prefix="portal-bench-verify-") as var_dir:
            _configure_django(emulator.endpoint, Path(var_dir))
            return _run(emulator, count)
    finally:
        emulator.stop()


def _run(emulator: Emulator, count: int) -> int:
    # Imported here: the portal's modules need django.setup() (_configure) first.
    from provisioning import aws

    workers = aws.AUDIT_MAX_WORKERS
    started = time.perf_counter()
    accounts = _seed(emulator, count)
    seed_seconds = time.perf_counter() - started
    print(
        f"seeded {count:,} accounts x {ROLES_PER_ACCOUNT} roles (+ Auditor and "
        f"OrganizationAccountAccessRole) in {seed_seconds:.1f} s; {workers} workers "
        f"(AUDIT_MAX_WORKERS)",
        flush=True,
    )
    grant = _grant(accounts)
    floor = _Floor(workers)
    plan = {account_id: [GRANT_ROLE] for account_id in accounts}
    # Warm-up (not measured): the first clients parse botocore's service models.
    _verify(_grant(accounts[:2]), workers)
    floor.verify({a: [GRANT_ROLE] for a in accounts[:2]})

    results = []
    # Each floor runs just before what it is the floor of, so that both see the same machine.
    floor_verify = _measured(emulator, "floor verify", lambda: floor.verify(plan))
    verify = _measured(emulator, "verify", lambda: _verify(grant, workers))
    verdict, verify.phases = verify.outcome
    verify.problems = _verify_problems(verdict, accounts)
    results.append(_result(verify, accounts, floor_verify))
    _print(results[-1])

    floor_scan = _measured(emulator, "floor scan", lambda: floor.scan(accounts))
    scan = _measured(emulator, "scan", lambda: aws.scan_accounts(accounts, max_workers=workers))
    scan.problems = _scan_problems(scan.outcome, accounts)
    results.append(_result(scan, accounts, floor_scan))
    _print(results[-1])

    throttled = _measured(
        emulator, "verify throttled", lambda: _verify(grant, workers), throttle=THROTTLE_EVERY
    )
    verdict, throttled.phases = throttled.outcome
    throttled.problems = _verify_problems(verdict, accounts)
    if throttled.tally.throttled == 0:
        throttled.problems.append("no request was throttled: the injection did not work")
    # Its floor is the unthrottled one: the ratio is what the retries and their backoff cost.
    results.append(_result(throttled, accounts, floor_verify))
    _print(results[-1])

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "verify",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "scale": {"accounts": count, "roles_per_account": ROLES_PER_ACCOUNT},
        "workers": workers,
        "throttle_every": THROTTLE_EVERY,
        "seed_seconds": round(seed_seconds, 2),
        "results": results,
    }
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 1 if any(r["problems"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
