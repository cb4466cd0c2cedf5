"""Which forge the settings name, built in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from fulfilment import services as fulfilment
from provisioning.forges import ForgePermanentError, LocalForge


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
