"""GitHub App authentication: a JWT buys an installation token for the API and git pushes."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fulfilment.models import PullRequest
from fulfilment.tasks import provision_access_task
from provisioning import forge_settings
from provisioning.forges import ForgePermanentError, GitHubForge
from tests.fakes.github import FakeGitHub
from tests.fixtures.substrate_repo import FixtureRepo
from tests.fulfilment.helpers import POLICY_FILE, approved, status, tree_paths

pytestmark = pytest.mark.django_db
INSTALLATION_TOKEN = "ghs_INSTALLATIONtoken123456"


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def app_github(
    tmp_path: Path, substrate: FixtureRepo, settings, monkeypatch
) -> Iterator[tuple[FakeGitHub, str]]:
    private, public = _key_pair()
    with FakeGitHub(
        tmp_path / "github",
        token=INSTALLATION_TOKEN,
        app_id="123456",
        app_public_key=public,
        installation_id=777,
    ) as server:
        server.commit_directory(substrate.root)
        settings.VAR_DIR = tmp_path / "var"
        settings.FORGE = "github"
        settings.FORGE_API_URL = server.api_url
        settings.FORGE_REPOSITORY = f"{server.owner}/{server.name}"
        settings.FORGE_TOKEN = ""
        settings.FORGE_GITHUB_APP_ID = "123456"
        settings.FORGE_GITHUB_APP_INSTALLATION_ID = 777
        settings.FORGE_GITHUB_APP_PRIVATE_KEY = private
        settings.SUBSTRATE_REPO_URL = server.git_url  # no credentials: the app's token pushes
        settings.SUBSTRATE_DEFAULT_BRANCH = "main"
        monkeypatch.setattr(
            forge_settings,
            "GitHubForge",
            functools.partial(GitHubForge, seconds_between_requests=0, seconds_between_writes=0),
        )
        yield server, private


def test_a_github_app_opens_the_pull_request_and_pushes_with_its_installation_token(
    app_github, engineer, security, make_user, substrate
):
    server, _private = app_github
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)

    assert status(r) == "pr_open"
    assert server.installation_tokens_issued >= 1
    [pull] = server.pulls.values()
    head = server.branch_sha(pull.head)
    assert POLICY_FILE in tree_paths(server.repo_path, head or "")
    assert PullRequest.objects.get(access_request=r).number == pull.number


def test_a_wrong_app_key_fails_for_good_without_showing_a_secret(
    app_github, engineer, security, make_user, substrate, settings
):
    _server, private = app_github
    other, _ = _key_pair()
    settings.FORGE_GITHUB_APP_PRIVATE_KEY = other
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    assert status(r) == "failed"
    row = PullRequest.objects.get(access_request=r)
    assert "401" in row.last_error
    for secret in (other, private, INSTALLATION_TOKEN):
        assert secret not in row.last_error


def test_an_incomplete_app_configuration_is_refused(settings):
    with pytest.raises(ForgePermanentError, match="installation id"):
        GitHubForge(api_url="", repository="o/r", app_id="1", app_private_key="")
    with pytest.raises(ForgePermanentError, match="token or a GitHub App"):
        GitHubForge(api_url="", repository="o/r")
