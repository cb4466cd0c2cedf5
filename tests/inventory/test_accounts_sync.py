"""accounts_sync against the AWS emulator running as a separate server (as `make run` has it).

The organization is built with boto3 in the emulator: Substrate-tagged service and special
accounts, a legacy admin account, an untagged account and a suspended (closed) one, more than
one page of ListAccounts. Nothing in boto3 is mocked; the one injected failure goes through a
botocore event hook on the real client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from moto.server import ThreadedMotoServer

import provisioning.aws
from audit.models import AuditEvent
from inventory import services as service
from inventory.models import AccountSyncRun, AwsAccount
from tests.services import free_port

MANAGEMENT_ID = "123456789012"  # moto's management account for the "testing" credentials
V = {"Manager": "Substrate", "SubstrateVersion": "2024.08"}
ORG = {
    "audit": {**V, "Name": "audit", "SubstrateSpecialAccount": "audit"},  # legacy tags only
    "deploy": {
        **V,
        "Name": "deploy",
        "SubstrateSpecialAccount": "deploy",
        "SubstrateType": "deploy",
    },
    "network": {**V, "Name": "network", "SubstrateType": "network"},
    "Substrate": {**V, "Name": "Substrate", "SubstrateType": "Substrate"},
    "old-admin": {"Domain": "admin", "Environment": "admin", "Quality": "alpha"},
    "payments-development-alpha": {
        **V,
        "Domain": "payments",
        "Environment": "development",
        "Quality": "alpha",
    },
    "payments-production-alpha": {
        **V,
        "Domain": "payments",
        "Environment": "production",
        "Quality": "alpha",
    },
    "payments-production-beta": {
        **V,
        "Domain": "payments",
        "Environment": "production",
        "Quality": "beta",
    },
    "data-staging-alpha": {
        **V,
        "Domain": "data",
        "Environment": "staging",
        "Quality": "alpha",
        "SubstrateVersion": "2024.01",
    },
    "web-production-alpha": {
        **V,
        "Domain": "web",
        "Environment": "production",
        "Quality": "alpha",
    },
    "untagged": {},
    "web-staging-alpha": {**V, "Domain": "web", "Environment": "staging", "Quality": "alpha"},
}
SUSPENDED = "web-staging-alpha"
PAGE_SIZE = 4  # 13 accounts listed (with management): four pages


def _post(url: str) -> None:
    requests.post(url, timeout=10).raise_for_status()


@pytest.fixture
def moto_endpoint(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto's state is per process, shared by every server in it: start from nothing.
    _post(f"{endpoint}/moto-api/reset")
    settings.AWS_ENDPOINT_URL = endpoint
    settings.AWS_ORGANIZATION_READER_ROLE_ARN = ""
    yield endpoint
    _post(f"{endpoint}/moto-api/reset")
    server.stop()


@pytest.fixture
def org(moto_endpoint):
    """Creates ORG in the emulator; returns (organizations client, name -> account id)."""
    client = boto3.client("organizations", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    client.tag_resource(
        ResourceId=MANAGEMENT_ID, Tags=[{"Key": "SubstrateType", "Value": "management"}]
    )
    ids = {"management": MANAGEMENT_ID}
    for name, tags in ORG.items():
        status = client.create_account(AccountName=name, Email=f"{name}@example.com")
        ids[name] = status["CreateAccountStatus"]["AccountId"]
        if tags:
            client.tag_resource(
                ResourceId=ids[name], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
    client.close_account(AccountId=ids[SUSPENDED])  # moto: SUSPENDED at once
    return client, ids


@pytest.fixture
def list_calls(monkeypatch):
    """Counts the ListAccounts requests the real client sends (an observer, not a stub)."""
    calls: list[str] = []
    real = provisioning.aws.aws_client

    def observed(service_name, **kwargs):
        client = real(service_name, **kwargs)
        client.meta.events.register(
            "before-call.organizations.ListAccounts",
            lambda **_: calls.append("ListAccounts"),
        )
        return client

    monkeypatch.setattr(provisioning.aws, "aws_client", observed)
    return calls


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def bare_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    """A bare git repository whose `main` holds `files`, built with the git CLI."""
    work, bare = tmp_path / "work", tmp_path / "substrate.git"
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True, env=env)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=env)
    for name, text in files.items():
        (work / name).write_text(text)
    for args in (
        ["add", "-A"],
        ["commit", "-q", "-m", "naming"],
        ["push", "-q", str(bare), "main"],
    ):
        subprocess.run(["git", *args], cwd=work, check=True, env=env)
    return bare


def pairs(*items: tuple[str, str], version: str = "2024.08") -> str:
    document = {
        "#": "managed by Substrate; do not edit by hand",
        "ValidEnvironmentQualityPairs": [{"Environment": e, "Quality": q} for e, q in items],
        "SubstrateVersion": version,
    }
    return json.dumps(document, indent="\t")


def last_sync_event() -> AuditEvent:
    return AuditEvent.objects.filter(action="account.sync").latest("sequence")


def after(event: AuditEvent) -> dict[str, Any]:
    assert event.after is not None
    return event.after


def rows() -> dict[str, Any]:
    return {
        a["account_id"]: a
        for a in AwsAccount.objects.values(
            "account_id",
            "name",
            "account_type",
            "domain",
            "environment",
            "quality",
            "substrate_version",
            "status",
            "tags",
            "last_seen_at",
        )
    }


# --- Enumeration ------------------------------------------------------------------------------


def test_enumeration_pages_skips_suspended_and_reads_tags(org, list_calls):
    _, ids = org
    inventory = provisioning.aws.organization_accounts(page_size=PAGE_SIZE)
    assert len(list_calls) == 4  # 13 listed accounts, 4 a page
    assert inventory.pages == 4
    listed = {a.id: a for a in inventory.accounts}
    assert set(listed) == set(ids.values()) - {ids[SUSPENDED]}
    assert inventory.suspended_ids == (ids[SUSPENDED],)
    assert listed[ids["payments-production-beta"]].tags["Quality"] == "beta"
    assert listed[ids["untagged"]].tags == {}
    assert listed[MANAGEMENT_ID].tags == {"SubstrateType": "management"}
    assert listed[ids["audit"]].name == "audit"
    assert listed[ids["audit"]].email == "audit@example.com"


def test_enumeration_through_the_organization_reader_role(org, settings):
    settings.AWS_ORGANIZATION_READER_ROLE_ARN = (
        f"arn:aws:iam::{MANAGEMENT_ID}:role/OrganizationReader"
    )
    inventory = provisioning.aws.organization_accounts()
    assert len(inventory.accounts) == len(ORG)  # + management - suspended
    assert inventory.pages == 1  # 20 a page by default


# --- The sync ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_creates_classified_accounts_over_several_pages(org, list_calls, settings, tmp_path):
    _, ids = org
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "absent.git")
    run = service.accounts_sync(page_size=PAGE_SIZE)

    assert run.status == AccountSyncRun.Status.SUCCEEDED, run.error
    assert len(list_calls) > 1
    assert (run.seen, run.created, run.updated, run.closed, run.skipped_suspended) == (
        12,
        12,
        0,
        0,
        1,
    )
    got = rows()
    assert ids[SUSPENDED] not in got  # skipped, never created
    types = {name: got[ids[name]]["account_type"] for name in ids if name != SUSPENDED}
    assert types == {
        "management": "management",
        "audit": "audit",
        "deploy": "deploy",
        "network": "network",
        "Substrate": "substrate",
        "old-admin": "substrate",
        "payments-development-alpha": "service",
        "payments-production-alpha": "service",
        "payments-production-beta": "service",
        "data-staging-alpha": "service",
        "web-production-alpha": "service",
        "untagged": "service",
    }
    beta = got[ids["payments-production-beta"]]
    assert (beta["domain"], beta["environment"], beta["quality"], beta["substrate_version"]) == (
        "payments",
        "production",
        "beta",
        "2024.08",
    )
    assert beta["name"] == "payments-production-beta"
    assert beta["tags"]["Manager"] == "Substrate"
    assert all(r["status"] == "active" and r["last_seen_at"] for r in got.values())
    # The untagged account is kept, flagged on the run; the repo is reported unreadable.
    kinds = [m["kind"] for m in run.mismatches]
    assert kinds[0] == "repo_unreadable"
    assert str(tmp_path / "absent.git") in run.mismatches[0]["message"]
    untagged = next(m for m in run.mismatches if m["kind"] == "untagged_service")
    assert untagged["accounts"] == [ids["untagged"]]

    event = last_sync_event()
    assert event.object_id == str(run.pk)
    assert after(event)["created"] == 12
    assert sorted(after(event)["added"]) == sorted(got)
    assert after(event)["pages"] == 4


@pytest.mark.django_db
def test_vanished_accounts_are_closed_and_suspended_ones_suspended(org):
    client, ids = org
    first = service.accounts_sync(page_size=PAGE_SIZE)
    assert first.status == AccountSyncRun.Status.SUCCEEDED
    client.remove_account_from_organization(AccountId=ids["web-production-alpha"])
    client.close_account(AccountId=ids["data-staging-alpha"])
    client.tag_resource(
        ResourceId=ids["payments-development-alpha"], Tags=[{"Key": "Quality", "Value": "beta"}]
    )

    second = service.accounts_sync(page_size=PAGE_SIZE)

    assert second.status == AccountSyncRun.Status.SUCCEEDED, second.error
    assert (second.seen, second.created, second.updated, second.closed) == (10, 0, 1, 2)
    assert second.skipped_suspended == 2
    got = rows()
    assert len(got) == 12  # nothing deleted
    assert got[ids["web-production-alpha"]]["status"] == AwsAccount.Status.CLOSED
    assert got[ids["data-staging-alpha"]]["status"] == AwsAccount.Status.SUSPENDED
    assert got[ids["payments-development-alpha"]]["quality"] == "beta"
    # A closed account is no longer seen; the others are.
    assert (
        got[ids["web-production-alpha"]]["last_seen_at"]
        < got[ids["payments-production-alpha"]]["last_seen_at"]
    )

    event = last_sync_event()
    assert event.object_id == str(second.pk)
    assert after(event)["closed_ids"] == [ids["web-production-alpha"]]
    assert after(event)["suspended_ids"] == [ids["data-staging-alpha"]]
    assert after(event)["added"] == []
    changed = after(event)["changed"]
    assert set(changed) == {
        ids["web-production-alpha"],
        ids["data-staging-alpha"],
        ids["payments-development-alpha"],
    }
    assert changed[ids["payments-development-alpha"]]["quality"] == ["alpha", "beta"]
    assert changed[ids["payments-development-alpha"]]["tags"] == {"Quality": ["alpha", "beta"]}
    # One event per run, not one per account.
    assert AuditEvent.objects.filter(action="account.sync").count() == 2


@pytest.mark.django_db
def test_an_unchanged_organization_changes_nothing(org):
    service.accounts_sync()
    before = {k: {**v, "last_seen_at": None} for k, v in rows().items()}
    run = service.accounts_sync()
    assert (run.created, run.updated, run.closed) == (0, 0, 0)
    assert {k: {**v, "last_seen_at": None} for k, v in rows().items()} == before
    event = last_sync_event()
    assert after(event)["changed"] == {}


@pytest.mark.django_db
def test_a_reappearing_account_is_active_again(org):
    _, ids = org
    service.accounts_sync()
    AwsAccount.objects.filter(account_id=ids["network"]).update(status=AwsAccount.Status.CLOSED)
    run = service.accounts_sync()
    assert run.updated == 1
    assert AwsAccount.objects.get(account_id=ids["network"]).status == AwsAccount.Status.ACTIVE


@pytest.mark.django_db
def test_a_failed_sync_changes_no_account_and_records_the_error(org, moto_endpoint):
    service.accounts_sync()
    before = rows()
    _post(f"{moto_endpoint}/moto-api/reset")  # the organization is gone: a real AWS error

    run = service.accounts_sync()

    assert run.status == AccountSyncRun.Status.FAILED
    assert run.error.startswith("AWS Organizations DescribeOrganization failed: ")
    assert "AWSOrganizationsNotInUseException" in run.error
    assert run.finished_at is not None
    assert rows() == before
    event = last_sync_event()
    assert event.object_id == str(run.pk)
    assert after(event) == {"status": "failed", "error": run.error}


@pytest.mark.django_db
def test_a_failure_after_listing_still_changes_nothing(org, monkeypatch):
    """ListTagsForResource fails on the fifth account: no account may be half-synced."""
    real = provisioning.aws.aws_client
    seen = []

    def deny_tags(**kwargs):
        seen.append(1)
        if len(seen) >= 5:
            raise provisioning.aws.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                "ListTagsForResource",
            )

    def failing(service_name, **kwargs):
        client = real(service_name, **kwargs)
        client.meta.events.register("before-call.organizations.ListTagsForResource", deny_tags)
        return client

    monkeypatch.setattr(provisioning.aws, "aws_client", failing)
    run = service.accounts_sync()
    assert run.status == AccountSyncRun.Status.FAILED
    assert run.error == (
        "AWS Organizations ListTagsForResource failed: AccessDeniedException: not allowed"
    )
    assert AwsAccount.objects.count() == 0


@pytest.mark.django_db
def test_cross_check_against_a_bare_git_repository(org, settings, tmp_path):
    _, ids = org
    bare = bare_repo(
        tmp_path,
        {
            "substrate.environments": "development\nproduction\n",  # no staging
            "substrate.qualities": "alpha\nbeta\n",
            "substrate.valid-environment-quality-pairs.json": pairs(
                ("admin", "alpha"), ("development", "alpha"), ("production", "alpha")
            ),
        },
    )
    settings.SUBSTRATE_REPO_URL = str(bare)
    settings.SUBSTRATE_DEFAULT_BRANCH = "main"

    run = service.accounts_sync()

    assert run.status == AccountSyncRun.Status.SUCCEEDED
    by_kind: dict[str, list[dict]] = {}
    for mismatch in run.mismatches:
        by_kind.setdefault(mismatch["kind"], []).append(mismatch)
    assert sorted(by_kind) == [
        "environment_unknown",
        "pair_invalid",
        "untagged_service",
        "version_mismatch",
    ]
    assert by_kind["environment_unknown"][0]["accounts"] == [ids["data-staging-alpha"]]
    assert {tuple(m["accounts"]) for m in by_kind["pair_invalid"]} == {
        (ids["data-staging-alpha"],),
        (ids["payments-production-beta"],),
    }
    assert by_kind["version_mismatch"][0]["accounts"] == [ids["data-staging-alpha"]]
    assert "2024.01" in by_kind["version_mismatch"][0]["message"]


@pytest.mark.django_db
def test_a_queued_run_is_finished_once(org):
    run = AccountSyncRun.objects.create()
    finished = service.accounts_sync(run_id=run.pk)
    assert finished.pk == run.pk
    assert finished.status == AccountSyncRun.Status.SUCCEEDED
    again = service.accounts_sync(run_id=run.pk)  # a duplicate task message
    assert again.status == AccountSyncRun.Status.SUCCEEDED
    assert AccountSyncRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="account.sync").count() == 1


@pytest.mark.django_db
def test_a_stale_running_run_is_marked_failed_by_the_next_sync(org):
    from django.utils import timezone

    stale = AccountSyncRun.objects.create()
    AccountSyncRun.objects.filter(pk=stale.pk).update(
        started_at=timezone.now() - service.SYNC_STALE_AFTER * 2
    )
    service.accounts_sync()
    stale.refresh_from_db()
    assert stale.status == AccountSyncRun.Status.FAILED
    assert "interrupted" in stale.error


# --- Concurrency ------------------------------------------------------------------------------


def _sync_in_thread(results: list, **kwargs) -> threading.Thread:
    def target() -> None:
        try:
            results.append(service.accounts_sync(**kwargs))
        except Exception as exc:  # noqa: BLE001 - reported to the test through `results`
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_second_sync_waits_for_the_first(org):
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:  # another sync in progress holds the lock
            cursor.execute("SELECT pg_advisory_lock(%s)", [service._SYNC_LOCK_KEY])
        results: list = []
        thread = _sync_in_thread(results)
        time.sleep(1.5)
        assert thread.is_alive()
        assert AwsAccount.objects.count() == 0
        assert AccountSyncRun.objects.get().status == AccountSyncRun.Status.RUNNING
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [service._SYNC_LOCK_KEY])
        thread.join(timeout=60)
    finally:
        holder.close()
    assert not thread.is_alive()
    assert results[0].status == AccountSyncRun.Status.SUCCEEDED
    assert AwsAccount.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_both_succeed_without_duplicates(org):
    results: list = []
    threads = [_sync_in_thread(results, page_size=PAGE_SIZE) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=60)
    assert [getattr(r, "status", r) for r in results] == ["succeeded", "succeeded"]
    assert sorted(r.created for r in results) == [0, 12]
    assert AwsAccount.objects.count() == 12


# --- The management command -------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_accounts_command_prints_counts_and_mismatches(org, capsys):
    call_command("sync_accounts")
    out = capsys.readouterr().out
    assert "12 active account(s) seen, 12 new, 0 changed" in out
    assert "1 suspended skipped" in out
    assert "Substrate repository not readable at" in out
    assert "without a Domain tag" in out


@pytest.mark.django_db
def test_sync_accounts_command_fails_with_nonzero_exit(moto_endpoint):
    # No organization in the emulator: AWS refuses ListAccounts.
    with pytest.raises(CommandError, match="AWSOrganizationsNotInUseException") as failure:
        call_command("sync_accounts")
    assert failure.value.returncode == 1
    assert AccountSyncRun.objects.get().status == AccountSyncRun.Status.FAILED


@pytest.mark.django_db
def test_the_local_emulator_needs_no_credentials(org, monkeypatch, tmp_path):
    # `make run` sets no AWS credentials; the emulator on loopback accepts placeholders.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never probe, even if it tried
    session = provisioning.aws._session()
    resolver = session._session.get_component("credential_provider")
    assert "iam-role" not in [p.METHOD for p in resolver.providers]
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.access_key == "emulator"
    run = service.accounts_sync()
    assert run.status == AccountSyncRun.Status.SUCCEEDED, run.error
    assert run.seen == 12


@pytest.mark.django_db
def test_a_role_that_cannot_be_assumed_fails_the_sync(org, settings):
    settings.AWS_ORGANIZATION_READER_ROLE_ARN = "arn:aws:iam::bad"
    run = service.accounts_sync()
    assert run.status == AccountSyncRun.Status.FAILED
    assert run.error.startswith("AWS Organizations AssumeRole arn:aws:iam::bad failed: ")
    assert AwsAccount.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_sync_accounts_exits_nonzero_from_the_shell(moto_endpoint, subprocess_env):
    env = {**subprocess_env, "AWS_ENDPOINT_URL": moto_endpoint}
    result = subprocess.run(
        [sys.executable, "manage.py", "sync_accounts"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "AWSOrganizationsNotInUseException" in result.stderr
    assert AccountSyncRun.objects.get().status == AccountSyncRun.Status.FAILED
