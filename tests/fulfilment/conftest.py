"""Fixtures of the fulfilment tests: a Substrate repository, served by the fake GitHub or
as the local forge's repository."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from fulfilment.tasks import provision_access_task
from provisioning import forge_settings
from provisioning.forges import GitHubForge
from tests.fakes.github import FakeGitHub
from tests.fixtures.substrate_repo import FixtureRepo, build_repo, register_accounts, serve_locally
from tests.fulfilment.helpers import SECRET, TOKEN, approved, status


@pytest.fixture
def substrate(tmp_path: Path) -> FixtureRepo:
    repo = build_repo(tmp_path / "substrate", version="2024.08")
    register_accounts(repo)
    return repo


@pytest.fixture
def github(tmp_path: Path, substrate: FixtureRepo, settings, monkeypatch) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", token=TOKEN) as server:
        server.commit_directory(substrate.root)
        settings.VAR_DIR = tmp_path / "var"
        settings.FORGE = "github"
        settings.FORGE_API_URL = server.api_url
        settings.FORGE_REPOSITORY = f"{server.owner}/{server.name}"
        settings.FORGE_TOKEN = TOKEN
        settings.SUBSTRATE_REPO_URL = server.git_url.replace(
            "http://", f"http://x-access-token:{TOKEN}@"
        )
        settings.SUBSTRATE_DEFAULT_BRANCH = "main"
        # PyGithub's politeness throttles would only slow the tests down.
        monkeypatch.setattr(
            forge_settings,
            "GitHubForge",
            functools.partial(GitHubForge, seconds_between_requests=0, seconds_between_writes=0),
        )
        yield server


@pytest.fixture
def local_repo(tmp_path: Path, substrate: FixtureRepo, settings) -> Path:
    return serve_locally(substrate, tmp_path, settings)


@pytest.fixture
def secret(settings) -> str:
    settings.FORGE_WEBHOOK_SECRET = SECRET
    return SECRET


@pytest.fixture
def pr_open(github, engineer, security, make_user, substrate) -> tuple[AccessRequest, PullRequest]:
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    assert status(r) == "pr_open"
    return r, PullRequest.objects.get(access_request=r)
