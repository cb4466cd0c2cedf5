"""A database of the layout before the apps split keeps every row through the split.

The split moved the audit log, the account inventory, pull requests and access keys out of
`approvals` as state-only migrations. Here the test database is taken back to that layout
(approvals 0014, the new apps unapplied: the schema of the main before the split), rows are
written there through the models of that time, and the database is migrated forward again:
every table keeps every row, the moved models read them, admin history follows the models,
and the audit chain still verifies.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.services import audit_events_for, audit_record, audit_verify
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from keys.models import AccessKey
from tests.factories import iam_user_grant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE_SPLIT = [
    ("approvals", "0014_merge_approved_head_extension_quorum"),
    ("audit", None),
    ("inventory", None),
    ("fulfilment", None),
    ("keys", None),
]
MOVED = {
    "accesskey": "keys",
    "keydelivery": "keys",
    "pullrequest": "fulfilment",
    "webhookdelivery": "fulfilment",
    "awsaccount": "inventory",
    "accountsyncrun": "inventory",
    "auditevent": "audit",
    "auditchainhead": "audit",
}


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    """Migrates the test database to `targets`; returns the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([(app, name) for app, name in targets if name]).apps


def _latest() -> list[tuple[str, str | None]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _row_counts() -> dict[str, int]:
    """Rows of every table of the portal (django's own and the sessions left out)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'django_migrations'"
        )
        tables = sorted(row[0] for row in cursor.fetchall())
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from the catalogue
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture
def back_to_the_layout_before_the_split() -> Any:
    """Takes the database back to before the split when called; forward again after."""
    yield lambda: _migrate(BEFORE_SPLIT)
    _migrate(_latest())


def test_a_database_from_before_the_split_keeps_every_row(
    make_user, back_to_the_layout_before_the_split
):
    # The grant is made with today's services (they write columns added after the split),
    # then the database goes back: its rows stay, as they were written then.
    owner = make_user("ada", "security")
    grant = iam_user_grant(owner)
    old_apps = back_to_the_layout_before_the_split()
    # Going back relabelled the content types to the app that owned the models then.
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) <= {
        "approvals"
    }

    # Rows written as the main before the split wrote them: through its models.
    OldAccessKey = old_apps.get_model("approvals", "AccessKey")
    OldPullRequest = old_apps.get_model("approvals", "PullRequest")
    old_key = OldAccessKey.objects.create(
        access_request_id=grant.pk, user_name="orbit-ci", access_key_id="AKIAOLD", status="active"
    )
    old_pull = OldPullRequest.objects.create(
        access_request_id=grant.pk,
        forge="local",
        branch="vendor-access/orbit-ci",
        base="main",
        title="Grant Orbit CI",
        state="open",
        number=7,
    )
    key_type = ContentType.objects.get(app_label="approvals", model="accesskey")
    LogEntry.objects.create(
        user=owner,
        content_type=key_type,
        object_id=str(old_key.pk),
        object_repr="AKIAOLD",
        action_flag=ADDITION,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM approvals_accesskey WHERE id = %s", [old_key.pk])
        assert cursor.fetchone() == (old_key.pk,)
    # The event the main of that time wrote about the key names it by the approvals label.
    audit_record(actor=owner, action="key.create", obj=AccessKey.objects.get(pk=old_key.pk))
    before = _row_counts()
    assert before["approvals_accesskey"] == 1
    assert before["approvals_auditevent"] > 1

    _migrate(_latest())

    after = _row_counts()
    # Every table keeps its rows; tables of apps added since the split start empty.
    assert {table: after[table] for table in before} == before
    assert {table: n for table, n in after.items() if table not in before and n} == {}
    key = AccessKey.objects.get(pk=old_key.pk)
    assert (key.access_request_id, key.access_key_id) == (grant.pk, "AKIAOLD")
    assert PullRequest.objects.get(pk=old_pull.pk).number == 7
    assert AwsAccount.objects.filter(domain="payments").count() == 1
    assert grant.target_accounts.count() == 1  # the relation now points at inventory's model
    moved = dict(ContentType.objects.filter(model__in=MOVED).values_list("model", "app_label"))
    assert moved == {model: app for model, app in MOVED.items() if model in moved}
    assert "accesskey" in moved
    entry = LogEntry.objects.get(object_id=str(old_key.pk), object_repr="AKIAOLD")
    assert entry.get_edited_object() == key  # admin history follows the model
    assert [e.action for e in audit_events_for(key)] == ["key.create"]
    verification = audit_verify()
    assert verification.ok, verification
