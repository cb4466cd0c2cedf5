"""The audit-trail export: every event with its hash, verifiable offline by a script that
imports nothing from the portal; a changed or missing event is caught."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.models import AuditChainHead, AuditEvent, audit_event_hash
from reports.verify_export import event_hash
from tests.reports.conftest import INJECTION_NAME, Org

pytestmark = pytest.mark.django_db
VERIFIER = Path(__file__).resolve().parents[2] / "reports" / "verify_export.py"


def export(tmp_path: Path, fmt: str) -> Path:
    out = tmp_path / f"audit.{fmt}"
    call_command("export_audit_trail", "--format", fmt, "-o", str(out), stdout=io.StringIO())
    return out


def verify_offline(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the verifier as an auditor would: a plain Python, no Django, no portal on the path."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=path.parent,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_verifies_offline_and_ends_at_the_chain_head(org: Org, tmp_path, fmt):
    path = export(tmp_path, fmt)
    head = AuditChainHead.objects.get()
    result = verify_offline(path, "--expect-last-hash", head.hash)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK: {AuditEvent.objects.count()} events intact, last hash {head.hash}" in result.stdout

    wrong = verify_offline(path, "--expect-last-hash", "0" * 64)
    assert wrong.returncode == 1


def test_the_verifier_hash_is_the_portal_hash(org: Org, tmp_path):
    lines = export(tmp_path, "jsonl").read_text(encoding="utf-8").splitlines()
    events = AuditEvent.objects.order_by("sequence")
    assert len(lines) == events.count()
    for line, event in zip(lines, events, strict=True):
        exported = json.loads(line)
        assert exported["hash"] == event.hash == event_hash(exported)
        assert audit_event_hash(event.hashed_fields()) == event_hash(exported)


def test_formula_text_is_neutralised_in_the_csv_and_still_verifies(org: Org, tmp_path):
    path = export(tmp_path, "csv")
    text = path.read_text(encoding="utf-8")
    assert "'" + INJECTION_NAME.replace('"', '""') in text
    assert ',"=HYPERLINK' not in text
    assert verify_offline(path).returncode == 0


def test_a_changed_event_is_caught(org: Org, tmp_path):
    path = export(tmp_path, "jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[3])
    event["actor_username"] = "somebody-else"
    lines[3] = json.dumps(event, sort_keys=True, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = verify_offline(path)
    assert result.returncode == 1
    assert f"event {event['sequence']} does not match its hash" in result.stdout
    with pytest.raises(CommandError, match="does not match its hash"):
        call_command("verify_audit_export", str(path), stdout=io.StringIO())


def test_a_removed_event_is_caught(org: Org, tmp_path):
    path = export(tmp_path, "csv")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[5]  # header + events: removes event 5
    path.write_text("".join(lines), encoding="utf-8")
    result = verify_offline(path)
    assert result.returncode == 1
    assert "sequence 4 is followed by 6" in result.stdout


def test_the_management_command_verifies_too(org: Org, tmp_path):
    out = io.StringIO()
    call_command("verify_audit_export", str(export(tmp_path, "jsonl")), stdout=out)
    assert out.getvalue().startswith("OK: ")


def test_auditors_download_the_trail_from_the_browser(client, org: Org, tmp_path):
    client.force_login(org.auditor)
    response = client.get(reverse("reports:audit_trail"), {"format": "jsonl"})
    assert response.status_code == 200
    path = tmp_path / "trail.jsonl"
    path.write_bytes(b"".join(response.streaming_content))  # type: ignore[arg-type]
    assert verify_offline(path).returncode == 0
    page = client.get(reverse("reports:index"))
    assert AuditChainHead.objects.get().hash in page.content.decode()
