"""Takes over access keys and their one-time deliveries from the approvals app, as state only.

The tables were created by approvals' migrations and keep their names (`db_table`), rows,
indexes, constraints and triggers: nothing in the database changes, only which app
Django says owns the models (approvals 0015 forgets them there).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("approvals", "0015_move_models_to_their_apps"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccessKey",
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
                        ("user_name", models.CharField(max_length=64)),
                        ("access_key_id", models.CharField(blank=True, max_length=128)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Being issued"),
                                    ("active", "Active"),
                                    ("inactive", "Deactivated"),
                                    ("deleted", "Deleted"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("aws_created_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_service", models.CharField(blank=True, max_length=100)),
                        ("last_used_region", models.CharField(blank=True, max_length=50)),
                        ("last_used_checked_at", models.DateTimeField(blank=True, null=True)),
                        ("unused_flagged_at", models.DateTimeField(blank=True, null=True)),
                        ("delete_requested_at", models.DateTimeField(blank=True, null=True)),
                        ("deactivated_at", models.DateTimeField(blank=True, null=True)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        ("claimed_until", models.DateTimeField(blank=True, null=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("last_error", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "access_request",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="access_keys",
                                to="approvals.accessrequest",
                            ),
                        ),
                        (
                            "replaces",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="replacement",
                                to="keys.accesskey",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "approvals_accesskey",
                        "ordering": ["-created_at", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="KeyDelivery",
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
                        ("recipient", models.EmailField(max_length=254)),
                        ("ciphertext", models.BinaryField(blank=True, null=True)),
                        (
                            "token_hash",
                            models.CharField(blank=True, max_length=64, null=True, unique=True),
                        ),
                        ("expires_at", models.DateTimeField()),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("revealed_at", models.DateTimeField(blank=True, null=True)),
                        ("wiped_at", models.DateTimeField(blank=True, null=True)),
                        ("wipe_reason", models.CharField(blank=True, max_length=32)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "access_key",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="delivery",
                                to="keys.accesskey",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "key deliveries",
                        "db_table": "approvals_keydelivery",
                        "ordering": ["-created_at", "-pk"],
                    },
                ),
                migrations.AddIndex(
                    model_name="accesskey",
                    index=models.Index(
                        fields=["status", "aws_created_at"], name="approvals_a_status_0f683d_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="accesskey",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status", "pending")),
                        fields=("access_request",),
                        name="approvals_accesskey_one_pending_per_request",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="accesskey",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("access_key_id", ""), _negated=True),
                        fields=("access_key_id",),
                        name="approvals_accesskey_unique_key_id",
                    ),
                ),
                migrations.AddIndex(
                    model_name="keydelivery",
                    index=models.Index(
                        condition=models.Q(("ciphertext__isnull", False)),
                        fields=["expires_at"],
                        name="approvals_keydelivery_live",
                    ),
                ),
            ],
        ),
    ]
