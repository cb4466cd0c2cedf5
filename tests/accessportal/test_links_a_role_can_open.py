"""No page shows a role a link it may not open: each demo role's pages are walked from the
dashboard, link by link, and none leads to "Not allowed" (403)."""

from __future__ import annotations

import re
from collections import deque
from io import StringIO
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from fulfilment.models import PullRequest

pytestmark = pytest.mark.django_db

# Downloads, one-time key links and signing out are not pages to walk.
SKIPPED = ("/accounts/logout/", "/keys/", "format=", "/evidence/", "/admin/")
PAGES_PER_PATTERN = 3  # /requests/1/ stands for /requests/N/: a few of each are enough
HREF = re.compile(r'<a [^>]*href="([^"#]*)"')


def _pattern(url: str) -> str:
    return re.sub(r"\d+", "N", urlsplit(url).path)


def _links(url: str, html: str) -> list[str]:
    found = []
    for href in HREF.findall(html):
        parts = urlsplit(urljoin(url, href.replace("&amp;", "&")))
        if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
            continue  # outside the portal
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _refused_links(client) -> list[tuple[str, str]]:
    """(link, page it was on) of every link from the dashboard on that answers 403."""
    answers: dict[str, int] = {}
    per_pattern: dict[str, int] = {}
    refused = []
    todo = deque([("/", "/")])
    while todo:
        url, source = todo.popleft()
        if url in answers:
            if answers[url] == 403:
                refused.append((url, source))
            continue
        if any(part in url for part in SKIPPED):
            continue
        pattern = _pattern(url)
        if per_pattern.get(pattern, 0) >= PAGES_PER_PATTERN:
            continue
        per_pattern[pattern] = per_pattern.get(pattern, 0) + 1
        response = client.get(url)
        answers[url] = response.status_code
        if response.status_code == 403:
            refused.append((url, source))
        elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
            todo.extend((link, url) for link in _links(url, response.content.decode()))
    assert len(answers) > 10, answers  # the walk went somewhere
    return refused


@pytest.mark.parametrize("username", ["engineer", "security", "auditor"])
def test_no_link_a_role_is_shown_leads_to_not_allowed(client, settings, tmp_path, username):
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")
    call_command("seed_demo", stdout=StringIO())
    # The local forge links each pull request to the portal's page of it (security's).
    for row in PullRequest.objects.filter(forge=PullRequest.Forge.LOCAL):
        row.url = f"/pulls/{row.number}/"
        row.save(update_fields=["url"])
    client.force_login(get_user_model().objects.get(username=username))
    assert _refused_links(client) == []
