"""Takes over pull requests and webhook deliveries from the approvals app, as state only.

The tables were created by approvals' migrations and keep their names (`db_table`), rows,
indexes, constraints and triggers: nothing in the database changes, only which app
Django says owns the models (approvals 0015 forgets them there).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("approvals", "0015_move_models_to_their_apps"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookDelivery",
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
                        ("forge", models.CharField(max_length=16)),
                        ("delivery_id", models.CharField(max_length=100, unique=True)),
                        ("event", models.CharField(blank=True, max_length=50)),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "verbose_name_plural": "webhook deliveries",
                        "db_table": "approvals_webhookdelivery",
                        "ordering": ["-received_at", "-pk"],
                    },
                ),
                migrations.CreateModel(
                    name="PullRequest",
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
                            "forge",
                            models.CharField(
                                choices=[
                                    ("local", "Local"),
                                    ("github", "GitHub"),
                                    ("gitlab", "GitLab"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "purpose",
                            models.CharField(
                                choices=[("grant", "Grant"), ("revoke", "Revocation")],
                                default="grant",
                                max_length=8,
                            ),
                        ),
                        ("number", models.PositiveIntegerField(blank=True, null=True)),
                        ("url", models.CharField(blank=True, max_length=500)),
                        ("branch", models.CharField(max_length=200)),
                        ("base", models.CharField(max_length=200)),
                        ("head_sha", models.CharField(blank=True, max_length=64)),
                        ("pushed_sha", models.CharField(blank=True, max_length=64)),
                        ("approved_sha", models.CharField(blank=True, max_length=64)),
                        ("merged_head_sha", models.CharField(blank=True, max_length=64)),
                        ("head_reviewed_at", models.DateTimeField(blank=True, null=True)),
                        ("status_sha", models.CharField(blank=True, max_length=64)),
                        ("merge_sha", models.CharField(blank=True, max_length=64)),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("pending", "Being prepared"),
                                    ("open", "Open"),
                                    ("merged", "Merged"),
                                    ("closed", "Closed without merging"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("title", models.CharField(blank=True, max_length=300)),
                        ("body", models.TextField(blank=True)),
                        ("last_error", models.TextField(blank=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("commands", models.JSONField(blank=True, default=list)),
                        ("commands_done_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "access_request",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="pull_requests",
                                to="approvals.accessrequest",
                            ),
                        ),
                        (
                            "commands_done_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "head_reviewed_by",
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
                        "db_table": "approvals_pullrequest",
                        "ordering": ["-created_at", "-pk"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("state__in", ["pending", "open"])),
                                fields=("forge", "branch"),
                                name="approvals_pullrequest_one_open_per_branch",
                            ),
                            models.UniqueConstraint(
                                fields=("forge", "number"),
                                name="approvals_pullrequest_unique_number",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
