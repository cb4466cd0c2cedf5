"""Makes the audit log append-only inside PostgreSQL too, not only in the ORM.

- `approvals_auditevent`: UPDATE, DELETE and TRUNCATE raise; an INSERT must extend the chain
  head (next sequence, prev_hash = head hash), so rows cannot be slipped in out of order.
- `approvals_auditchainhead`: DELETE and TRUNCATE raise; an UPDATE may only advance the head by
  one, to the event just appended after it.

This stops the application's own database role, a stray `manage.py dbshell` or a buggy
migration. It does not stop a superuser, who can disable triggers: that is what the hash chain
and `manage.py verify_audit_log` are for.

TRUNCATE is allowed in databases named `test_*` only: Django's test runner empties every table
with one TRUNCATE after each transactional test. SQLite (the one-machine default) gets no
triggers; there the ORM guard and the hash chain protect the log.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION approvals_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_database() LIKE 'test\_%' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE FUNCTION approvals_audit_check_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_sequence bigint;
    head_hash varchar(64);
BEGIN
    SELECT sequence, hash INTO head_sequence, head_hash
        FROM approvals_auditchainhead WHERE id = 1;
    IF NOT FOUND OR NEW.sequence <> head_sequence + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit event % does not extend the chain head (%)',
            NEW.sequence, head_sequence
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION approvals_audit_check_head_advance() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = OLD.id AND NEW.sequence = OLD.sequence + 1 AND EXISTS (
        SELECT 1 FROM approvals_auditevent
        WHERE sequence = NEW.sequence AND hash = NEW.hash AND prev_hash = OLD.hash
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit chain head only advances to the event appended after it'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER approvals_auditevent_append_only
    BEFORE UPDATE OR DELETE ON approvals_auditevent
    FOR EACH ROW EXECUTE FUNCTION approvals_audit_refuse_change();
CREATE TRIGGER approvals_auditevent_no_truncate
    BEFORE TRUNCATE ON approvals_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION approvals_audit_refuse_change();
CREATE TRIGGER approvals_auditevent_extends_head
    BEFORE INSERT ON approvals_auditevent
    FOR EACH ROW EXECUTE FUNCTION approvals_audit_check_append();

CREATE TRIGGER approvals_auditchainhead_no_delete
    BEFORE DELETE ON approvals_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION approvals_audit_refuse_change();
CREATE TRIGGER approvals_auditchainhead_no_truncate
    BEFORE TRUNCATE ON approvals_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION approvals_audit_refuse_change();
CREATE TRIGGER approvals_auditchainhead_advance
    BEFORE UPDATE ON approvals_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION approvals_audit_check_head_advance();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS approvals_auditchainhead_advance ON approvals_auditchainhead;
DROP TRIGGER IF EXISTS approvals_auditchainhead_no_truncate ON approvals_auditchainhead;
DROP TRIGGER IF EXISTS approvals_auditchainhead_no_delete ON approvals_auditchainhead;
DROP TRIGGER IF EXISTS approvals_auditevent_extends_head ON approvals_auditevent;
DROP TRIGGER IF EXISTS approvals_auditevent_no_truncate ON approvals_auditevent;
DROP TRIGGER IF EXISTS approvals_auditevent_append_only ON approvals_auditevent;
DROP FUNCTION IF EXISTS approvals_audit_check_head_advance();
DROP FUNCTION IF EXISTS approvals_audit_check_append();
DROP FUNCTION IF EXISTS approvals_audit_refuse_change();
"""


def _run_on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # No parameters: the plpgsql bodies contain % placeholders of their own.
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("approvals", "0002_audit_chain_head")]

    operations = [
        migrations.RunPython(_run_on_postgresql(FORWARD), _run_on_postgresql(BACKWARD)),
    ]
