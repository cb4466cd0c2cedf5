"""Two deadline sweeps at once (two workers, or the beat and a retry) revoke a grant once."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accessportal import effects
from approvals.models import AccessRequest
from audit.models import AuditEvent
from audit.services import audit_verify
from recertification import services
from recertification.models import Certification
from tests.fulfilment.helpers import status
from tests.recertification.conftest import start


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_revoke_each_grant_once(grant, engineer, security, monkeypatch):
    assert connection.vendor == "postgresql"
    others = [
        AccessRequest.objects.create(
            vendor=grant.vendor, requester=engineer, strategy="role_per_account", status="active"
        )
        for _ in range(3)
    ]
    campaign = start(security)
    queued: list[tuple[str, Any]] = []
    # The tasks queued after each commit are recorded, not run: what counts is how many.
    monkeypatch.setattr(effects, "_enqueue", lambda name, args, kwargs: queued.append((name, args)))
    after = campaign.deadline + timedelta(days=1)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            results.append(services.campaigns_sweep(today=after))
        except BaseException as exc:  # noqa: BLE001  reported below, with the thread's error
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    grants = [grant, *others]
    assert sum(r["revoked"] for r in results) == len(grants)
    for r in grants:
        assert status(r) == "revoked"
        assert AuditEvent.objects.filter(action="request.revoke", object_id=str(r.pk)).count() == 1
    revokes = [args[0] for name, args in queued if name == "fulfilment.tasks.revoke_access_task"]
    assert sorted(revokes) == sorted(r.pk for r in grants)
    assert set(Certification.objects.values_list("outcome", flat=True)) == {"revoked"}
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    assert AuditEvent.objects.filter(action="recertification.campaign_close").count() == 1
    assert audit_verify().ok
    assert timezone.localdate() < after
