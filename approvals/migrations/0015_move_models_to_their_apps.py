"""Hands the models that are not the request workflow's to their own apps, as state only.

audit, inventory, fulfilment and keys now own the audit log, the account inventory, pull
requests with webhook deliveries, and access keys. Their tables keep their names and data;
here approvals forgets the models, points its accounts relation at `inventory.AwsAccount`, and
relabels the content types so admin history and permissions follow the models.
"""

from django.db import migrations, models

MOVED = {
    "auditevent": "audit",
    "auditchainhead": "audit",
    "awsaccount": "inventory",
    "accountsyncrun": "inventory",
    "pullrequest": "fulfilment",
    "webhookdelivery": "fulfilment",
    "accesskey": "keys",
    "keydelivery": "keys",
}


def relabel_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        # Where migrate already made the new label (an earlier run), the old row is left stale.
        if not ContentType.objects.filter(app_label=app_label, model=model).exists():
            ContentType.objects.filter(app_label="approvals", model=model).update(
                app_label=app_label
            )


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, app_label in MOVED.items():
        if not ContentType.objects.filter(app_label="approvals", model=model).exists():
            ContentType.objects.filter(app_label=app_label, model=model).update(
                app_label="approvals"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0001_initial"),
        ("approvals", "0014_merge_approved_head_extension_quorum"),
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="accesskey",
                    name="access_request",
                ),
                migrations.RemoveField(
                    model_name="accesskey",
                    name="replaces",
                ),
                migrations.RemoveField(
                    model_name="keydelivery",
                    name="access_key",
                ),
                migrations.RemoveField(
                    model_name="accountsyncrun",
                    name="triggered_by",
                ),
                migrations.DeleteModel(
                    name="AuditChainHead",
                ),
                migrations.RemoveField(
                    model_name="auditevent",
                    name="actor",
                ),
                migrations.DeleteModel(
                    name="AwsAccount",
                ),
                migrations.RemoveField(
                    model_name="pullrequest",
                    name="access_request",
                ),
                migrations.RemoveField(
                    model_name="pullrequest",
                    name="commands_done_by",
                ),
                migrations.RemoveField(
                    model_name="pullrequest",
                    name="head_reviewed_by",
                ),
                migrations.DeleteModel(
                    name="WebhookDelivery",
                ),
                migrations.AlterField(
                    model_name="accessrequest",
                    name="target_accounts",
                    field=models.ManyToManyField(
                        blank=True, related_name="requests", to="inventory.awsaccount"
                    ),
                ),
                migrations.DeleteModel(
                    name="AccessKey",
                ),
                migrations.DeleteModel(
                    name="KeyDelivery",
                ),
                migrations.DeleteModel(
                    name="AccountSyncRun",
                ),
                migrations.DeleteModel(
                    name="AuditEvent",
                ),
                migrations.DeleteModel(
                    name="PullRequest",
                ),
            ],
        ),
        migrations.RunPython(relabel_content_types, restore_content_types),
    ]
