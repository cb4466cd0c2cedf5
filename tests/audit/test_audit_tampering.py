"""Tampering by someone with database access is detected by audit_verify and verify_audit_log.

The attacker here is a database superuser: `session_replication_role = replica` (or ALTER
TABLE ... DISABLE TRIGGER) switches off the append-only triggers before the raw SQL.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit.models import AuditEvent, audit_event_hash
from audit.services import audit_record, audit_verify

ROOT = Path(__file__).resolve().parents[2]


def _record(count: int) -> list[AuditEvent]:
    return [
        audit_record(
            actor=None,
            action="access_request.approve",
            object_repr=f"request {n}",
            after={"status": "approved", "n": n},
        )
        for n in range(1, count + 1)
    ]


def _tamper(*statements: tuple[str, tuple]) -> None:
    """Runs raw SQL with the append-only triggers switched off, as a superuser could."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def _verify_command() -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("verify_audit_log", stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.mark.django_db
def test_intact_log_verifies_and_command_says_so():
    _record(5)
    result = audit_verify()
    assert (result.ok, result.checked, result.first_broken_sequence, result.reason) == (
        True,
        5,
        None,
        None,
    )
    out, error = _verify_command()
    assert error is None
    assert out.strip() == "Audit log intact: 5 events checked."


@pytest.mark.django_db
def test_verbose_command_prints_the_last_hash_as_an_outside_anchor():
    last = _record(3)[-1]
    assert audit_verify().last_hash == last.hash
    out = io.StringIO()
    call_command("verify_audit_log", verbosity=2, stdout=out)
    assert out.getvalue().splitlines() == [
        "Audit log intact: 3 events checked.",
        f"Last event: sequence 3, hash {last.hash}",
    ]


@pytest.mark.django_db
def test_empty_log_verifies():
    result = audit_verify()
    assert result.ok
    assert result.checked == 0


@pytest.mark.django_db
def test_changed_row_is_detected_at_its_sequence():
    _record(5)
    _tamper(
        (
            "UPDATE approvals_auditevent SET after = %s::jsonb WHERE sequence = 3",
            ('{"status": "rejected", "n": 3}',),
        )
    )
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_sequence == 3
    assert result.reason == "hash mismatch at sequence 3 (row changed)"
    assert result.checked == 2
    _, error = _verify_command()
    assert error is not None
    assert error.returncode == 1
    assert "sequence 3" in str(error)
    assert "row changed" in str(error)


@pytest.mark.django_db
def test_a_microsecond_change_of_created_at_is_detected():
    _record(3)
    _tamper(
        (
            "UPDATE approvals_auditevent SET created_at = created_at + interval '1 microsecond'"
            " WHERE sequence = 2",
            (),
        )
    )
    assert audit_verify().reason == "hash mismatch at sequence 2 (row changed)"


@pytest.mark.django_db
def test_changed_and_rehashed_row_breaks_the_next_link():
    events = _record(5)
    fields = {**events[2].hashed_fields(), "object_repr": "request 3 (innocent)"}
    _tamper(
        (
            "UPDATE approvals_auditevent SET object_repr = %s, hash = %s WHERE sequence = 3",
            (fields["object_repr"], audit_event_hash(fields)),
        )
    )
    result = audit_verify()
    assert result.first_broken_sequence == 4
    assert result.reason == "prev_hash of sequence 4 does not match hash of 3"


@pytest.mark.django_db
def test_removed_middle_row_is_detected_as_a_gap():
    _record(5)
    _tamper(("DELETE FROM approvals_auditevent WHERE sequence = 3", ()))
    result = audit_verify()
    assert not result.ok
    assert result.first_broken_sequence == 3
    assert result.reason == "sequence gap: 2 followed by 4 (row removed)"
    _, error = _verify_command()
    assert error is not None
    assert "sequence 3" in str(error)


@pytest.mark.django_db
def test_removed_first_row_is_detected():
    _record(3)
    _tamper(("DELETE FROM approvals_auditevent WHERE sequence = 1", ()))
    result = audit_verify()
    assert result.first_broken_sequence == 1
    assert result.reason == "sequence gap: the log starts at 2 (row removed)"


@pytest.mark.django_db
def test_removed_last_row_is_detected_through_the_chain_head():
    _record(5)
    _tamper(("DELETE FROM approvals_auditevent WHERE sequence = 5", ()))
    result = audit_verify()
    assert not result.ok
    assert result.checked == 4
    assert result.first_broken_sequence == 5
    assert result.reason == "chain head says 5 events but the log ends at 4 (tail removed)"
    _, error = _verify_command()
    assert error is not None
    assert "sequence 5" in str(error)


@pytest.mark.django_db
def test_reordered_rows_are_detected():
    events = _record(5)
    # Swap the hashes of 2 and 3 (in three steps: the unique constraint checks every row).
    _tamper(
        ("UPDATE approvals_auditevent SET hash = %s WHERE sequence = 2", ("0" * 63 + "1",)),
        ("UPDATE approvals_auditevent SET hash = %s WHERE sequence = 3", (events[1].hash,)),
        ("UPDATE approvals_auditevent SET hash = %s WHERE sequence = 2", (events[2].hash,)),
    )
    result = audit_verify()
    assert result.first_broken_sequence == 2
    assert result.reason == "hash mismatch at sequence 2 (row changed)"


@pytest.mark.django_db
def test_rows_swapped_by_sequence_are_detected():
    _record(4)
    _tamper(
        ("UPDATE approvals_auditevent SET sequence = 100 WHERE sequence = 2", ()),
        ("UPDATE approvals_auditevent SET sequence = 2 WHERE sequence = 3", ()),
        ("UPDATE approvals_auditevent SET sequence = 3 WHERE sequence = 100", ()),
    )
    result = audit_verify()
    assert result.first_broken_sequence == 2
    assert result.reason == "hash mismatch at sequence 2 (row changed)"


@pytest.mark.django_db
def test_tampering_with_triggers_disabled_by_alter_table_is_detected():
    _record(3)
    with transaction.atomic(), connection.cursor() as cursor:
        # The deferred foreign-key checks of the inserts above must run before ALTER TABLE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE approvals_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE approvals_auditevent SET action = 'vendor.noop' WHERE sequence = 1")
        cursor.execute("ALTER TABLE approvals_auditevent ENABLE TRIGGER USER")
    assert audit_verify().reason == "hash mismatch at sequence 1 (row changed)"


@pytest.mark.django_db
def test_rows_appended_behind_the_heads_back_are_detected():
    events = _record(3)
    fields = {**events[2].hashed_fields(), "sequence": 4, "prev_hash": events[2].hash}
    _tamper(
        (
            "INSERT INTO approvals_auditevent (sequence, created_at, actor_username, action,"
            " object_type, object_id, object_repr, after, prev_hash, hash)"
            " SELECT 4, created_at, actor_username, action, object_type, object_id, object_repr,"
            " after, %s, %s FROM approvals_auditevent WHERE sequence = 3",
            (events[2].hash, audit_event_hash(fields)),
        )
    )
    result = audit_verify()
    assert result.first_broken_sequence == 4
    assert result.reason == (
        "the log runs to 4 but the chain head says 3 (rows added outside audit_record)"
    )


@pytest.mark.django_db
def test_a_moved_chain_head_is_detected():
    events = _record(3)
    _tamper(("UPDATE approvals_auditchainhead SET hash = %s", (events[1].hash,)))
    result = audit_verify()
    assert result.first_broken_sequence == 3
    assert result.reason == "chain head hash does not match the hash of sequence 3"


@pytest.mark.django_db
def test_missing_chain_head_is_detected_and_stops_further_writes():
    from audit.services import AuditChainError

    _record(2)
    _tamper(("DELETE FROM approvals_auditchainhead", ()))
    result = audit_verify()
    assert not result.ok
    assert "chain head is missing" in (result.reason or "")
    with pytest.raises(AuditChainError):
        audit_record(actor=None, action="vendor.create")
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_command_in_a_real_process_exits_non_zero_and_names_the_broken_sequence(subprocess_env):
    _record(4)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "verify_audit_log"],
            cwd=ROOT,
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    intact = run()
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.strip() == "Audit log intact: 4 events checked."

    _tamper(
        (
            "UPDATE approvals_auditevent SET after = %s::jsonb WHERE sequence = 2",
            ('{"status": "approved by nobody"}',),
        )
    )
    broken = run()
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert "Audit log broken at sequence 2: hash mismatch at sequence 2 (row changed)" in (
        broken.stderr
    )
