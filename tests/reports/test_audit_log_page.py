"""The audit log page for auditors and security: filtered, paged by sequence, each event shown
re-hashed, and the chain head checked against the latest event."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditChainHead, AuditEvent
from tests.reports.conftest import INJECTION_NAME, Org

pytestmark = pytest.mark.django_db


def test_auditors_read_the_log_filtered_with_the_chain_status(client, org: Org):
    client.force_login(org.auditor)
    html = client.get(reverse("reports:audit_log")).content.decode()
    assert AuditChainHead.objects.get().hash in html
    assert "The chain head matches the latest event" in html
    assert "changed</span>" not in html
    assert html.count(">intact</span>") == min(AuditEvent.objects.count(), 50)
    # Vendor text is escaped, never markup.
    assert INJECTION_NAME.replace('"', "&quot;") in html

    filtered = client.get(reverse("reports:audit_log"), {"action": "request.approve"})
    rows = filtered.content.decode().split('data-testid="audit-events"')[1]
    assert rows.count("<code>request.approve</code>") == 2
    assert "<code>vendor.create</code>" not in rows


def test_pages_go_back_by_sequence_with_a_fixed_number_of_queries(client, org: Org, monkeypatch):
    monkeypatch.setattr("reports.audit_log.PAGE_SIZE", 5)
    client.force_login(org.security)
    newest = list(AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True))
    first = client.get(reverse("reports:audit_log")).content.decode()
    assert f"before={newest[4]}" in first
    with CaptureQueriesContext(connection) as page_one:
        client.get(reverse("reports:audit_log"))
    with CaptureQueriesContext(connection) as page_two:
        second = client.get(reverse("reports:audit_log"), {"before": newest[4]}).content.decode()
    assert f"<td>{newest[5]}</td>" in second
    assert f"<td>{newest[4]}</td>" not in second
    assert len(page_two) == len(page_one)


def test_requesters_cannot_read_the_log(client, org: Org):
    client.force_login(org.engineer)
    assert client.get(reverse("reports:audit_log")).status_code == 403
