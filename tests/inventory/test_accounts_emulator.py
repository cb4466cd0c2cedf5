"""The AWS emulator's demo organization: seeding, stable ids, the command, and Sync now."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import boto3
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from moto.server import ThreadedMotoServer

from accessportal.roles import Role
from demo import aws_org as demo_org
from demo.management.commands.aws_emulator import seed_demo_organization
from inventory import services as service
from inventory.models import AccountSyncRun, AwsAccount
from tests.factories import force_login_with_mfa
from tests.processes import running, wait_until
from tests.services import free_port

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _reset(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture
def moto_endpoint(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    _reset(endpoint)  # moto's state is per process, shared by every server in it
    settings.AWS_ENDPOINT_URL = endpoint
    settings.AWS_ORGANIZATION_READER_ROLE_ARN = ""
    yield endpoint
    _reset(endpoint)
    server.stop()


def test_seeding_creates_every_demo_account_with_its_tags(moto_endpoint):
    ids = seed_demo_organization()
    accounts = demo_org.demo_accounts()
    assert set(ids) == {a.name for a in accounts}
    assert ids["management"] == "123456789012"  # tagged, not created
    assert len(set(ids.values())) == len(accounts)
    client = boto3.client("organizations", endpoint_url=moto_endpoint, region_name="us-east-1")
    listed = {a["Id"]: a["Name"] for a in client.list_accounts()["Accounts"]}
    assert len(listed) == len(accounts)
    for account in accounts:
        tags = client.list_tags_for_resource(ResourceId=ids[account.name])["Tags"]
        assert {t["Key"]: t["Value"] for t in tags} == account.tags, account.name
    assert listed[ids["payments-production-beta"]] == "payments-production-beta"
    # Three domains, the four valid pairs each, and the five special accounts.
    assert len(accounts) == 3 * 4 + 5


def test_seeding_twice_creates_nothing_twice(moto_endpoint):
    first = seed_demo_organization()
    second = seed_demo_organization(seed=None)
    assert first == second
    client = boto3.client("organizations", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert len(client.list_accounts()["Accounts"]) == len(first)


def test_seeded_ids_are_the_same_on_every_start(moto_endpoint):
    first = seed_demo_organization()
    _reset(moto_endpoint)  # as if the emulator restarted with its memory empty
    assert seed_demo_organization() == first
    _reset(moto_endpoint)
    assert seed_demo_organization(seed=7) != first


@pytest.mark.django_db
def test_the_demo_organization_syncs_cleanly_against_the_demo_files(
    moto_endpoint, settings, tmp_path
):
    bare = tmp_path / "substrate.git"
    git = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, env=git)
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=git)
    for name, text in demo_org.repo_files().items():
        (work / name).write_text(text)
    for step in (["add", "-A"], ["commit", "-q", "-m", "demo"], ["push", "-q", str(bare), "main"]):
        subprocess.run(["git", *step], cwd=work, check=True, env=git)
    settings.SUBSTRATE_REPO_URL = f"file://{bare}"
    ids = seed_demo_organization()

    run = service.accounts_sync()

    assert run.status == AccountSyncRun.Status.SUCCEEDED
    assert run.mismatches == []
    assert run.seen == len(ids)
    types = dict(AwsAccount.objects.values_list("account_id", "account_type"))
    for account in demo_org.demo_accounts():
        assert types[ids[account.name]] == account.account_type


def test_emulator_refuses_a_busy_port(moto_endpoint):
    port = int(moto_endpoint.rsplit(":", 1)[1])
    with pytest.raises(CommandError, match="in use"):
        call_command("aws_emulator", "--port", str(port))


def test_seeding_refuses_real_aws(settings):
    settings.AWS_ENDPOINT_URL = ""
    with pytest.raises(CommandError, match="real AWS"):
        seed_demo_organization()


@pytest.mark.django_db(transaction=True)
def test_aws_emulator_command_seeds_syncs_serves_and_stops(subprocess_env, tmp_path):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**subprocess_env, "AWS_ENDPOINT_URL": endpoint}
    log = tmp_path / "emulator.log"
    args = [sys.executable, "manage.py", "aws_emulator", "--port", str(port)]
    with running(args, env, log) as proc:
        wait_until(lambda: "Serving" in log.read_text(), timeout=60, what="the emulator", log=log)
        client = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
        assert len(client.list_accounts()["Accounts"]) == len(demo_org.demo_accounts())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    output = log.read_text()
    assert "payments-production-beta" in output
    assert "AWS emulator stopped." in output
    assert f"{len(demo_org.demo_accounts())} active account(s) seen" in output
    assert AwsAccount.objects.count() == len(demo_org.demo_accounts())
    assert AccountSyncRun.objects.get().status == AccountSyncRun.Status.SUCCEEDED


@pytest.mark.django_db
def test_sync_now_runs_the_task_after_commit(
    client, make_user, moto_endpoint, django_capture_on_commit_callbacks
):
    seed_demo_organization()
    force_login_with_mfa(client, make_user("sec", Role.SECURITY))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("approvals:accounts_sync"))
    assert response.status_code == 302
    assert len(callbacks) == 1
    run = AccountSyncRun.objects.get()  # the queued run, finished by the (eager) task
    assert run.status == AccountSyncRun.Status.SUCCEEDED
    assert run.triggered_by is not None
    assert run.triggered_by.username == "sec"
    assert AwsAccount.objects.count() == len(demo_org.demo_accounts())
    status = client.get(reverse("approvals:accounts_sync_status")).json()
    assert (status["id"], status["status"]) == (run.pk, "succeeded")
