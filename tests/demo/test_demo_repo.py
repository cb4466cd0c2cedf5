"""`seed_demo`'s Substrate repository: created once, never over anything, and in agreement with
the AWS emulator's demo organization (the same account ids), so the sync is clean and requests
get real previews."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from dulwich.objects import Commit
from dulwich.repo import Repo
from moto.server import ThreadedMotoServer

from approvals import requests as services
from demo import aws_org as demo_org
from demo.management.commands.aws_emulator import demo_account_ids, seed_demo_organization
from demo.substrate_repo import seed_demo_repository
from inventory import services as account_service
from inventory.models import AccountSyncRun, AwsAccount
from provisioning.checkout import default_branch_checkout
from provisioning.substrate import RepoLayout
from tests.processes import running, wait_until
from tests.services import free_port

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Someone",
    "GIT_AUTHOR_EMAIL": "someone@example.com",
    "GIT_COMMITTER_NAME": "Someone",
    "GIT_COMMITTER_EMAIL": "someone@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _head(path: Path, branch: str = "main") -> str:
    with Repo(str(path)) as repo:
        return repo.refs[f"refs/heads/{branch}".encode()].decode()  # type: ignore[index]


def _repo_ids(path: Path, branch: str = "main") -> dict[tuple[str, str, str], str]:
    """(domain, environment, quality) -> the account id its providers.tf names, on `branch`."""
    with default_branch_checkout(str(path), branch) as (folder, _):
        layout = RepoLayout(folder)
        return {m.key: str(layout.module_account_id(m.path)) for m in layout.service_modules}


def _fail() -> dict[str, str]:
    raise AssertionError("the account ids were asked for, though nothing is to be created")


@pytest.fixture
def repo_url(settings, tmp_path):
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "var" / "substrate.git")
    settings.SUBSTRATE_DEFAULT_BRANCH = "main"
    return tmp_path / "var" / "substrate.git"


@pytest.fixture
def moto_endpoint(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    settings.AWS_ENDPOINT_URL = endpoint
    settings.AWS_ORGANIZATION_READER_ROLE_ARN = ""
    yield endpoint
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    server.stop()


@pytest.mark.django_db
def test_seed_demo_creates_the_repository_once(repo_url, settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the demo logins file
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    first = _head(repo_url)
    with Repo(str(repo_url)) as repo:
        assert repo.bare
        head = repo[first.encode()]
        assert isinstance(head, Commit)
        assert head.author == b"Vendor access portal demo <demo@localhost>"
    files_before = sorted(p.relative_to(repo_url) for p in repo_url.rglob("*"))

    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert _head(repo_url) == first
    assert sorted(p.relative_to(repo_url) for p in repo_url.rglob("*")) == files_before
    # The ids in the repository are the emulator's, computed by replaying its seeding.
    ids = demo_account_ids()
    assert (
        _repo_ids(repo_url)[("payments", "production", "beta")] == ids["payments-production-beta"]
    )


def test_an_existing_repository_and_its_history_are_left_alone(repo_url):
    work = repo_url.parent / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=GIT_ENV)
    (work / "README").write_text("ours\n")
    for step in (["add", "-A"], ["commit", "-qm", "ours"]):
        subprocess.run(["git", *step], cwd=work, check=True, env=GIT_ENV)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(repo_url)], check=True, env=GIT_ENV
    )
    before = _head(repo_url)

    message = seed_demo_repository(_fail)

    assert "exists" in message
    assert _head(repo_url) == before
    with Repo(str(repo_url)) as repo:
        head = repo[before.encode()]
        assert isinstance(head, Commit)
        assert head.parents == []  # nothing was committed on top


def test_anything_at_the_path_is_left_alone(repo_url):
    repo_url.parent.mkdir(parents=True)
    repo_url.write_text("not a repository\n")
    assert "exists" in seed_demo_repository(_fail)
    assert repo_url.read_text() == "not a repository\n"


def test_nothing_is_created_for_a_remote_url_or_real_aws(repo_url, settings):
    settings.SUBSTRATE_REPO_URL = "https://git.example.com/acme/substrate.git"
    assert "not local" in seed_demo_repository(_fail)
    settings.SUBSTRATE_REPO_URL = str(repo_url)
    settings.AWS_ENDPOINT_URL = ""
    assert "real AWS" in seed_demo_repository(_fail)
    assert not repo_url.parent.exists()


def test_an_unsupported_url_is_named_and_nothing_is_created(repo_url, settings):
    settings.SUBSTRATE_REPO_URL = "file://otherhost/srv/substrate.git"
    assert "another host" in seed_demo_repository(_fail)


def test_without_moto_it_says_so_and_creates_nothing(repo_url):
    def no_moto() -> dict[str, str]:
        raise ImportError("No module named 'moto'")

    assert "moto is not installed" in seed_demo_repository(no_moto)
    assert not repo_url.exists()


def test_the_emulator_process_gives_the_ids_the_repository_names(
    repo_url, subprocess_env, tmp_path
):
    """`manage.py aws_emulator`, as `make run` starts it, against the seeded repository."""
    seed_demo_repository(demo_account_ids)
    in_repo = _repo_ids(repo_url)
    assert len(in_repo) == len(demo_org.DOMAINS) * len(demo_org.VALID_PAIRS)

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**subprocess_env, "AWS_ENDPOINT_URL": endpoint}
    log = tmp_path / "emulator.log"
    args = [sys.executable, "manage.py", "aws_emulator", "--port", str(port), "--no-sync"]
    with running(args, env, log):
        wait_until(lambda: "Serving" in log.read_text(), timeout=60, what="the emulator", log=log)
        client = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
        listed = client.list_accounts()["Accounts"]
        by_name = {a["Name"]: a["Id"] for a in listed}
        tags = {
            a["Id"]: {
                t["Key"]: t["Value"]
                for t in client.list_tags_for_resource(ResourceId=a["Id"])["Tags"]
            }
            for a in listed
        }
        # The demo IAM-user grant is applied: its user exists in the account the portal reaches.
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        assert iam.get_user(UserName=demo_org.KEY_DEMO_VENDOR_SLUG)["User"]["UserName"]
    from_emulator = {
        (t["Domain"], t["Environment"], t["Quality"]): account_id
        for account_id, t in tags.items()
        if t.get("SubstrateType") == "service"
    }
    assert from_emulator == in_repo
    with default_branch_checkout(str(repo_url), "main") as (folder, _):
        admin = RepoLayout(folder).module_account_id("root-modules/admin/alpha/global")
    assert admin == by_name["Substrate"]


def _request(vendor, **overrides):
    data = {
        "vendor": vendor,
        "strategy": "role_per_account",
        "principals": "arn:aws:iam::123456789012:role/VendorScanner",
        "external_id": "",
        "domains": ["payments"],
        "environments": ["production"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "justification": "Scans our configuration nightly.",
        "expires_on": timezone.localdate() + timedelta(days=90),
    }
    return {**data, **overrides}


@pytest.mark.django_db
def test_demo_organization_syncs_cleanly_and_requests_get_real_previews(
    repo_url, moto_endpoint, engineer, vendor
):
    # The repository first: computing the ids resets moto's state, shared in this process.
    assert "created" in seed_demo_repository(demo_account_ids)
    ids = seed_demo_organization()

    run = account_service.accounts_sync()

    assert run.status == AccountSyncRun.Status.SUCCEEDED
    assert run.mismatches == []
    assert run.seen == len(demo_org.demo_accounts())
    in_db = {
        (a.domain, a.environment, a.quality): a.account_id
        for a in AwsAccount.objects.filter(account_type="service")
    }
    assert in_db == _repo_ids(repo_url)

    role = services.request_save(actor=engineer, data=_request(vendor))
    assert role.preview is not None
    assert role.preview.get("error") is None, role.preview
    assert role.preview["commit"] == _head(repo_url)
    assert "policies/orbit-ci.assume-role-policy.json" in {f["path"] for f in role.preview["files"]}
    create = [c for c in role.preview["commands"] if c.startswith("substrate role create")]
    assert create, role.preview["commands"]
    assert "--domain payments --environment production" in create[0]
    assert set(role.target_accounts.values_list("account_id", flat=True)) == {
        ids["payments-production-alpha"],
        ids["payments-production-beta"],
    }

    user = services.request_save(
        actor=engineer, data=_request(vendor, strategy="iam_user", domains=["data"])
    )
    assert user.preview is not None
    assert user.preview.get("error") is None, user.preview
    paths = {f["path"] for f in user.preview["files"]}
    assert "root-modules/admin/alpha/global/orbit-ci.tf" in paths
    # The user lives in the Substrate account, whose id the generator reads from the
    # repository's admin root module: it must be the emulator's.
    trust = next(
        f["content"]
        for f in user.preview["files"]
        if f["path"] == "policies/orbit-ci-user.assume-role-policy.json"
    )
    assert f"arn:aws:iam::{ids['Substrate']}:user/orbit-ci" in trust
    assert "substrate setup --terraform" in user.preview["commands"]
    assert any(
        c.startswith("substrate role create --role OrbitCiAccess --domain data")
        for c in user.preview["commands"]
    )
