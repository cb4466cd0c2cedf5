"""Takes over the audit log from the approvals app, as state only.

The tables were created by approvals' migrations and keep their names (`db_table`), rows,
indexes, constraints and triggers: nothing in the database changes, only which app
Django says owns the models (approvals 0015 forgets them there).
"""

import re

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("approvals", "0014_merge_approved_head_extension_quorum"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditChainHead",
                    fields=[
                        (
                            "id",
                            models.PositiveSmallIntegerField(
                                default=1, primary_key=True, serialize=False
                            ),
                        ),
                        ("sequence", models.PositiveBigIntegerField(default=0)),
                        (
                            "hash",
                            models.CharField(
                                default="0000000000000000000000000000000000000000000000000000000000000000",
                                max_length=64,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "approvals_auditchainhead",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("id", 1)), name="audit_chain_head_singleton"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("sequence", models.PositiveBigIntegerField(unique=True)),
                        ("created_at", models.DateTimeField()),
                        ("actor_username", models.CharField(blank=True, max_length=255)),
                        ("source_ip", models.GenericIPAddressField(blank=True, null=True)),
                        (
                            "action",
                            models.CharField(
                                max_length=100,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        re.compile("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$"),
                                        "Use a dotted lower-case action such as vendor.create.",
                                    )
                                ],
                            ),
                        ),
                        ("object_type", models.CharField(blank=True, max_length=100)),
                        ("object_id", models.CharField(blank=True, max_length=255)),
                        ("object_repr", models.CharField(blank=True, max_length=200)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_events",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "approvals_auditevent",
                        "ordering": ["sequence"],
                        "indexes": [
                            models.Index(
                                fields=["object_type", "object_id", "sequence"],
                                name="audit_object_idx",
                            ),
                            models.Index(fields=["actor", "sequence"], name="audit_actor_idx"),
                            models.Index(fields=["action"], name="audit_action_idx"),
                            models.Index(fields=["created_at"], name="audit_created_at_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(fields=("hash",), name="audit_hash_unique"),
                            models.CheckConstraint(
                                condition=models.Q(("sequence__gte", 1)),
                                name="audit_sequence_gte_1",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
