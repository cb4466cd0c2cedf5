"""A request waiting for its second approval when the approval rules arrive keeps its first.

The database is taken back to the layout before the rules (approvals 0015) with a submitted
request that needs two approvals and has one, then migrated forward: the earlier approval
counts for `security` (the default rule's group), the request knows what it reaches, and one
more approval under the rules meets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from approvals import decisions, rules
from approvals.models import AccessRequest, Approval
from tests.approvals.helpers import submitted

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BEFORE_RULES = [("approvals", "0015_move_models_to_their_apps")]


def _migrate(targets: Sequence[tuple[str, str | None]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def test_an_approval_from_before_the_rules_still_counts(
    reviewed_vendor, engineer, security, account
):
    r = submitted(reviewed_vendor, engineer)
    AccessRequest.objects.filter(pk=r.pk).update(required_approvals=2)
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)

    executor = _migrate(BEFORE_RULES)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'approvals_approval'"
        )
        assert "counted_for" not in {row[0] for row in cursor.fetchall()}
    _migrate(executor.loader.graph.leaf_nodes())

    approval = Approval.objects.get(access_request=r.pk)
    assert approval.counted_for == ["security"]
    assert approval.rules_version is None  # taken before any version existed
    r.refresh_from_db()
    assert r.status == AccessRequest.Status.SUBMITTED
    assert r.reaches["domains"] == ["payments"]
    standing = rules.request_standing(r)
    assert [(row.requirement.group, row.approvers) for row in standing.rows] == [
        ("security", ["sam"])
    ]
    assert not standing.met
    # One more approval meets it (approving here would start fulfilment, which this test's
    # database, committed at once, would run for real).
    assert rules.standing_of(r, [("sam", ["security"]), ("sasha", ["security"])]).met
