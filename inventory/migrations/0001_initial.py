"""Takes over the AWS account inventory from the approvals app, as state only.

The tables were created by approvals' migrations and keep their names (`db_table`), rows,
indexes, constraints and triggers: nothing in the database changes, only which app
Django says owns the models (approvals 0015 forgets them there).
"""

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
                    name="AccountSyncRun",
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
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("running", "Running"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                ],
                                default="running",
                                max_length=16,
                            ),
                        ),
                        ("started_at", models.DateTimeField(auto_now_add=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("seen", models.PositiveIntegerField(default=0)),
                        ("created", models.PositiveIntegerField(default=0)),
                        ("updated", models.PositiveIntegerField(default=0)),
                        ("closed", models.PositiveIntegerField(default=0)),
                        ("skipped_suspended", models.PositiveIntegerField(default=0)),
                        (
                            "mismatches",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="Differences between the accounts' tags and the Substrate repository.",
                            ),
                        ),
                        ("error", models.TextField(blank=True)),
                        (
                            "triggered_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "approvals_accountsyncrun",
                        "ordering": ["-started_at"],
                    },
                ),
                migrations.CreateModel(
                    name="AwsAccount",
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
                        (
                            "account_id",
                            models.CharField(
                                max_length=12,
                                unique=True,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^\\d{12}$", "An AWS account id is exactly 12 digits."
                                    )
                                ],
                                verbose_name="account id",
                            ),
                        ),
                        ("name", models.CharField(blank=True, max_length=255, verbose_name="name")),
                        (
                            "email",
                            models.CharField(blank=True, max_length=255, verbose_name="e-mail"),
                        ),
                        (
                            "account_type",
                            models.CharField(
                                choices=[
                                    ("service", "Service"),
                                    ("management", "Management"),
                                    ("audit", "Audit"),
                                    ("deploy", "Deploy"),
                                    ("network", "Network"),
                                    ("substrate", "Substrate (admin)"),
                                ],
                                max_length=16,
                                verbose_name="type",
                            ),
                        ),
                        (
                            "domain",
                            models.CharField(blank=True, max_length=64, verbose_name="domain"),
                        ),
                        (
                            "environment",
                            models.CharField(blank=True, max_length=64, verbose_name="environment"),
                        ),
                        (
                            "quality",
                            models.CharField(blank=True, max_length=64, verbose_name="quality"),
                        ),
                        (
                            "substrate_version",
                            models.CharField(
                                blank=True, max_length=32, verbose_name="Substrate version"
                            ),
                        ),
                        ("tags", models.JSONField(blank=True, default=dict, verbose_name="tags")),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("active", "Active"),
                                    ("suspended", "Suspended"),
                                    ("closed", "Closed (no longer in the organization)"),
                                ],
                                default="active",
                                max_length=16,
                                verbose_name="status",
                            ),
                        ),
                        (
                            "first_seen_at",
                            models.DateTimeField(auto_now_add=True, verbose_name="first seen"),
                        ),
                        (
                            "last_seen_at",
                            models.DateTimeField(
                                null=True, verbose_name="last seen in the organization"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "approvals_awsaccount",
                        "ordering": ["domain", "environment", "quality", "account_id"],
                        "indexes": [
                            models.Index(
                                fields=["status", "account_type"],
                                name="approvals_a_status_fe3887_idx",
                            ),
                            models.Index(
                                fields=["domain", "environment", "quality"],
                                name="approvals_a_domain_9677db_idx",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
