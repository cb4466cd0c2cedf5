"""The benchmark's bulk seeder leaves a database the portal itself could have written."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.db import DatabaseError, connection, transaction

from approvals.models import TRANSITIONS, AccessRequest
from audit.models import AuditChainHead, AuditEvent
from audit.services import audit_verify
from bench.seed import Scale, seed_organization

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SCALE = Scale(accounts=30, vendors=10, requests=80, seed=3)


def test_the_bulk_loaded_audit_log_is_one_valid_chain_and_stays_append_only() -> None:
    seeded = seed_organization(SCALE)

    verification = audit_verify()
    assert verification.ok, verification.reason
    assert verification.checked == AuditEvent.objects.count() == seeded.chain_head_sequence
    assert AuditChainHead.objects.get().sequence == seeded.chain_head_sequence
    # The append check is back on after the load: a row that does not extend the head fails.
    head = AuditChainHead.objects.get()
    refused = pytest.raises(DatabaseError, match="does not extend the chain head")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO approvals_auditevent (sequence, created_at, actor_username, action, "
            "object_type, object_id, object_repr, prev_hash, hash) "
            "VALUES (%s, now(), '', 'bench.forged', '', '', '', %s, %s)",
            [head.sequence + 5, head.hash, "f" * 64],
        )


def test_every_request_ends_where_its_timeline_says_by_allowed_transitions() -> None:
    seed_organization(SCALE)

    requests = AccessRequest.objects.all()
    assert requests.count() == SCALE.requests
    for access_request in requests:
        events = AuditEvent.objects.filter(
            object_type="approvals.accessrequest", object_id=str(access_request.pk)
        ).order_by("sequence")
        statuses = [e.after["status"] for e in events if e.after and "status" in e.after]
        assert statuses[0] == AccessRequest.Status.DRAFT
        assert statuses[-1] == access_request.status
        for before, after in pairwise(statuses):
            assert after in TRANSITIONS[before], (access_request.pk, before, after)
    assert len({r.status for r in requests}) >= 5
