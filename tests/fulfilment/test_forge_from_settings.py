"""Which forge the settings name, built in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulfilment import services as fulfilment
from provisioning import forge_settings
from provisioning.forges import ForgePermanentError, LocalForge
from provisioning.forges.local import InMemoryPullRequestStore


def test_the_local_forge_reads_a_file_localhost_url_as_an_absolute_path(settings, tmp_path):
    settings.FORGE = "local"
    settings.SUBSTRATE_REPO_URL = f"file://localhost{tmp_path}/substrate.git"
    forge = fulfilment.forge_for_settings()
    assert isinstance(forge, LocalForge)
    assert forge.repo_path == Path(f"{tmp_path}/substrate.git")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://git.example.com/acme/substrate.git", "needs SUBSTRATE_REPO_URL to be a local"),
        ("file://otherhost/srv/substrate.git", "another host"),
    ],
)
def test_the_local_forge_needs_a_local_repository(settings, url, reason):
    settings.FORGE = "local"
    settings.SUBSTRATE_REPO_URL = url
    with pytest.raises(ForgePermanentError, match=reason):
        fulfilment.forge_for_settings()


def test_provisioning_builds_the_local_forge_only_with_a_store_and_links_its_pages(
    settings, tmp_path
):
    """Provisioning builds every forge from the settings; where the local forge keeps its
    pull requests (fulfilment's table) is passed in, never imported upward."""
    settings.FORGE = "local"
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")
    with pytest.raises(ForgePermanentError, match="needs a store"):
        forge_settings.forge_for_settings()
    forge = forge_settings.forge_for_settings(
        local_store=InMemoryPullRequestStore(), local_url_template="/pr/{number}/"
    )
    assert isinstance(forge, LocalForge)
    # fulfilment's door passes its table and the portal's page of a pull request.
    portal_forge = fulfilment.forge_for_settings()
    assert isinstance(portal_forge, LocalForge)
    assert type(portal_forge.store).__name__ == "PullRequestModelStore"
    assert portal_forge.url_template.endswith("/{number}/")
