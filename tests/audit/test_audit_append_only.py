"""The log cannot be changed: neither through the ORM nor, on PostgreSQL, with plain SQL."""

from __future__ import annotations

import importlib

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditChainHead, AuditEvent, AuditLogAppendOnlyError, audit_event_hash
from audit.services import audit_record, audit_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def events() -> list[AuditEvent]:
    return [
        audit_record(actor=None, action="vendor.create", after={"name": f"Vendor {n}"})
        for n in range(3)
    ]


def _rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sequence, action, after::text, hash FROM approvals_auditevent")
        return sorted(cursor.fetchall())


def _refused_by_database(sql: str, params: tuple = ()) -> str:
    """Runs `sql` in a savepoint that must fail; returns the database's message."""
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as c:
        c.execute(sql, params)
    return str(excinfo.value)


# --- ORM --------------------------------------------------------------------------------------


def test_saving_an_existing_event_is_refused(events):
    event = AuditEvent.objects.get(sequence=2)
    event.after = {"name": "Rewritten"}
    with pytest.raises(AuditLogAppendOnlyError):
        event.save()
    with pytest.raises(AuditLogAppendOnlyError):
        event.save(update_fields=["after"])
    assert AuditEvent.objects.get(sequence=2).after == {"name": "Vendor 1"}


def test_deleting_an_event_is_refused(events):
    with pytest.raises(AuditLogAppendOnlyError):
        events[1].delete()
    assert AuditEvent.objects.count() == 3


def test_queryset_update_and_delete_are_refused(events):
    before = _rows()
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.filter(sequence=2).update(action="vendor.delete")
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.bulk_update(events, ["action"])
    assert _rows() == before


def test_events_cannot_be_inserted_around_audit_record(events):
    forged = AuditEvent(**{**events[2].hashed_fields(), "sequence": 4, "hash": "f" * 64})
    with pytest.raises(AuditLogAppendOnlyError, match="hash does not match"):
        forged.save()
    with pytest.raises(AuditLogAppendOnlyError):
        AuditEvent.objects.bulk_create([forged])
    assert AuditEvent.objects.count() == 3


# --- PostgreSQL triggers ----------------------------------------------------------------------


def test_database_refuses_update_of_an_event(events):
    before = _rows()
    message = _refused_by_database(
        "UPDATE approvals_auditevent SET after = '{}'::jsonb WHERE sequence = 2"
    )
    assert "append-only" in message
    assert "UPDATE" in message
    assert _rows() == before


def test_database_refuses_delete_of_an_event(events):
    message = _refused_by_database("DELETE FROM approvals_auditevent WHERE sequence = 3")
    assert "append-only" in message
    assert "DELETE" in message
    assert AuditEvent.objects.count() == 3


def test_database_refuses_truncate_outside_test_databases(services):
    """The trigger SQL of migration 0003, in a database not named test_* (unlike this one)."""
    forward_sql = importlib.import_module(
        "approvals.migrations.0003_audit_append_only_trigger"
    ).FORWARD
    server = f"host=127.0.0.1 port={services.pg_port} user=app"
    with psycopg.connect(f"{server} dbname=app", autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS portal_truncate_check")
        admin.execute("CREATE DATABASE portal_truncate_check")
        try:
            with psycopg.connect(f"{server} dbname=portal_truncate_check") as db:
                db.execute(
                    "CREATE TABLE approvals_auditchainhead"
                    " (id smallint PRIMARY KEY, sequence bigint, hash varchar(64));"
                    "CREATE TABLE approvals_auditevent"
                    " (id bigserial, sequence bigint, prev_hash varchar(64), hash varchar(64));"
                )
                db.execute(forward_sql)
                db.commit()
                for table in ("approvals_auditevent", "approvals_auditchainhead"):
                    with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as excinfo:
                        db.execute(f"TRUNCATE {table}")
                    db.rollback()
                    assert f"TRUNCATE on {table} refused" in str(excinfo.value)
        finally:
            admin.execute("DROP DATABASE IF EXISTS portal_truncate_check")


def test_database_refuses_an_event_that_does_not_extend_the_head(events):
    # A correctly hashed event, but inserted behind audit_record's back at the wrong place.
    fields = {**events[2].hashed_fields(), "sequence": 9}
    forged_hash = audit_event_hash(fields)
    message = _refused_by_database(
        "INSERT INTO approvals_auditevent (sequence, created_at, actor_username, action,"
        " object_type, object_id, object_repr, prev_hash, hash)"
        " VALUES (9, now(), '', 'vendor.create', '', '', '', %s, %s)",
        (fields["prev_hash"], forged_hash),
    )
    assert "does not extend the chain head" in message
    assert AuditEvent.objects.count() == 3


def test_database_only_lets_the_head_advance_to_the_event_just_appended(events):
    head = AuditChainHead.objects.get()
    message = _refused_by_database(
        "UPDATE approvals_auditchainhead SET sequence = 2, hash = %s", (events[1].hash,)
    )
    assert "only advances" in message
    assert "only advances" in _refused_by_database(
        "UPDATE approvals_auditchainhead SET sequence = 4, hash = %s", ("e" * 64,)
    )
    assert "append-only" in _refused_by_database("DELETE FROM approvals_auditchainhead")
    assert AuditChainHead.objects.get().sequence == head.sequence == 3
    assert audit_verify().ok


def test_database_triggers_are_installed():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE NOT tgisinternal AND tgname LIKE 'approvals_audit%%'"
        )
        triggers = set(cursor.fetchall())
    assert triggers == {
        ("approvals_auditevent", "approvals_auditevent_append_only"),
        ("approvals_auditevent", "approvals_auditevent_no_truncate"),
        ("approvals_auditevent", "approvals_auditevent_extends_head"),
        ("approvals_auditchainhead", "approvals_auditchainhead_no_delete"),
        ("approvals_auditchainhead", "approvals_auditchainhead_no_truncate"),
        ("approvals_auditchainhead", "approvals_auditchainhead_advance"),
    }
