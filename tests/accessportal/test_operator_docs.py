"""README's GitHub set-up says what the code needs, and the code does what it says."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings

from tests.fulfilment.helpers import sign

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECRET = "whsec-0123456789abcdef-SECRET"


def _github_section() -> str:
    start = README.index("- **GitHub** (`FORGE=github`)")
    return README[start : README.index("\n- **", start + 1)]


@pytest.mark.parametrize(
    "needed",
    [
        "Content type `application/json`",
        "**Pull requests**",
        "**Pushes**",
        "Contents: read\n  and write",
        "Pull requests: read and\n  write",
        "Commit statuses: read and write",
        "`https://HOST/api/v3`",
        "`FORGE_WEBHOOK_SECRET`",
        "/webhooks/github/",
    ],
)
def test_the_github_section_names_what_the_portal_needs(needed):
    assert needed in _github_section()


def test_the_settings_it_names_exist():
    section = _github_section()
    for name in ("FORGE_API_URL", "FORGE_TOKEN", "FORGE_REPOSITORY", "SUBSTRATE_REPO_URL"):
        assert f"`{name}`" in section
        assert hasattr(django_settings, name), name


@pytest.mark.django_db
def test_a_form_encoded_delivery_is_refused_as_the_readme_says(client, settings):
    """GitHub's default content type wraps the JSON in a form field: the portal cannot use it."""
    settings.FORGE_WEBHOOK_SECRET = SECRET
    body = urlencode({"payload": '{"zen": "hi"}'}).encode()
    headers = {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "form-1",
        "X-Hub-Signature-256": sign(body, SECRET),
    }
    response = client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json() == {"status": "invalid json"}
    assert '400 "invalid json"' in _github_section()


@pytest.mark.django_db
def test_events_it_does_not_subscribe_are_ignored(client, settings):
    settings.FORGE_WEBHOOK_SECRET = SECRET
    body = b'{"action": "created"}'
    headers = {
        "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": "other-1",
        "X-Hub-Signature-256": sign(body, SECRET),
    }
    response = client.post(
        "/webhooks/github/", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 202
    assert '202 "ignored"' in _github_section()
