"""The demo's Relay Alerts grant, the first flow the README sends newcomers to, as they see it:
its accounts, the change it makes, its access-map row and its subprocessor-report row."""

from __future__ import annotations

import csv
import io
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from approvals.models import AccessRequest, Strategy
from audit.models import AuditEvent
from demo.aws_org import KEY_DEMO_VENDOR_SLUG

pytestmark = pytest.mark.django_db

WEB_ACCOUNTS = {
    "web-development-alpha",
    "web-staging-alpha",
    "web-production-alpha",
    "web-production-beta",
}


@pytest.fixture(autouse=True)
def _own_substrate_repository(settings, tmp_path):
    """seed_demo creates the demo Substrate repository: keep it out of the session's var/."""
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _key_grant() -> AccessRequest:
    return AccessRequest.objects.get(vendor__slug=KEY_DEMO_VENDOR_SLUG, strategy=Strategy.IAM_USER)


def _csv_row(client) -> dict[str, str]:
    response = client.get("/reports/subprocessors/?format=csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    lines = body.decode("utf-8-sig").splitlines()
    # The header row follows the report's preamble (title, as-of time, parameters).
    header = next(i for i, line in enumerate(lines) if line.startswith("Vendor legal name,"))
    rows = csv.DictReader(io.StringIO("\n".join(lines[header:])))
    return next(row for row in rows if row["Vendor"] == "Relay Alerts")


def _map_marks(client, grant: AccessRequest) -> int:
    """How many account cells of the access map link to the grant."""
    response = client.get("/access-map/")
    assert response.status_code == 200
    return len(re.findall(rf'href="/requests/{grant.pk}/"', response.content.decode()))


def _assert_looks_right(client, grant: AccessRequest) -> None:
    names = set(grant.target_accounts.values_list("name", flat=True))
    assert names == WEB_ACCOUNTS
    preview = grant.preview or {}
    assert "error" not in preview, preview
    paths = [f["path"] for f in preview["files"]]
    assert any(path.endswith("/relay-alerts.tf") for path in paths), paths
    assert any("--role RelayAlerts" in command for command in preview["commands"])
    assert _map_marks(client, grant) == len(WEB_ACCOUNTS)
    ids = sorted(grant.target_accounts.values_list("account_id", flat=True))
    row = _csv_row(client)
    assert row["Accounts"] == f"#{grant.pk}: {', '.join(ids)}"
    assert row["Request ids"] == f"#{grant.pk}"


def test_the_seeded_key_grant_has_accounts_a_change_a_map_row_and_a_csv_row(client, auditor):
    _seed()
    grant = _key_grant()
    assert grant.status == AccessRequest.Status.ACTIVE
    client.force_login(auditor)
    _assert_looks_right(client, grant)
    page = client.get(f"/requests/{grant.pk}/").content.decode()
    assert "4 accounts" in page
    assert "cannot be generated" not in page
    assert "No preview" not in page
    # Merged as approved: no red warning of a head nobody approved on the newcomers' first page.
    assert 'data-testid="merged-head"' not in page
    assert not grant.pull_requests.get().merged_unapproved_head


def test_a_grant_seeded_before_its_accounts_and_repository_is_completed_once(client, auditor):
    """A demo seeded by an earlier release kept a grant with no account and a failed preview;
    running seed_demo again fills both in (audited), and a third run changes nothing."""
    _seed()
    grant = _key_grant()
    grant.target_accounts.clear()
    AccessRequest.objects.filter(pk=grant.pk).update(
        preview={"error": "The change cannot be generated: no account"}
    )
    # and its pull request, merged with no approved commit, read as an unapproved head
    grant.pull_requests.update(approved_sha="", merged_head_sha="", head_reviewed_at=timezone.now())

    output = _seed()
    grant.refresh_from_db()
    assert f"Demo IAM-user grant #{grant.pk}: its accounts and change filled in." in output
    client.force_login(auditor)
    _assert_looks_right(client, grant)
    repairs = AuditEvent.objects.filter(action="request.demo_repair", object_id=str(grant.pk))
    assert repairs.count() == 1
    assert len((repairs.get().after or {})["accounts"]) == len(WEB_ACCOUNTS)
    assert not grant.pull_requests.get().merged_unapproved_head

    assert "filled in" not in _seed()
    assert repairs.count() == 1
