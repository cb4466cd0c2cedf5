"""Creates the audit chain's single head row: sequence 0, the genesis hash."""

from django.db import migrations

GENESIS_HASH = "0" * 64


def create_head(apps, schema_editor):
    AuditChainHead = apps.get_model("approvals", "AuditChainHead")
    AuditChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "hash": GENESIS_HASH})


def remove_head(apps, schema_editor):
    apps.get_model("approvals", "AuditChainHead").objects.filter(pk=1).delete()


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_audit_log")]

    operations = [migrations.RunPython(create_head, remove_head)]
