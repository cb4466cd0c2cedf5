"""Approval rules as data (approvals/rules.py): versions of the rules and their votes, the
rule version each decision was taken under, and what each request reaches.

Decisions taken before rules existed were the security team's: they count for "security",
the group of the default rules, so a request waiting for its second approval keeps its first.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ACCOUNT_STRATEGIES = ("role_per_account", "hub_role", "iam_user")


def _reaches(accounts):
    return {
        "domains": sorted({a.domain for a in accounts if a.domain}),
        "environments": sorted({a.environment for a in accounts if a.environment}),
        "qualities": sorted({a.quality for a in accounts if a.quality}),
    }


def earlier_decisions_counted_for_security(apps, schema_editor):
    Approval = apps.get_model("approvals", "Approval")
    ExtensionApproval = apps.get_model("approvals", "ExtensionApproval")
    Approval.objects.filter(counted_for=[]).update(counted_for=["security"])
    ExtensionApproval.objects.filter(counted_for=[]).update(counted_for=["security"])
    AccessRequest = apps.get_model("approvals", "AccessRequest")
    AwsAccount = apps.get_model("inventory", "AwsAccount")
    every_account = None
    for request in AccessRequest.objects.filter(reaches={}).iterator():
        if request.strategy in ACCOUNT_STRATEGIES:
            accounts = list(request.target_accounts.all())
        else:
            if every_account is None:
                every_account = list(AwsAccount.objects.filter(status="active"))
            accounts = every_account
        AccessRequest.objects.filter(pk=request.pk).update(reaches=_reaches(accounts))


class Migration(migrations.Migration):
    dependencies = [
        ("approvals", "0015_move_models_to_their_apps"),
        ("inventory", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="accessrequest",
            name="reaches",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="approval",
            name="counted_for",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="extensionapproval",
            name="counted_for",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="ApprovalRuleSet",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveIntegerField(unique=True)),
                ("rules", models.JSONField(default=list)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("proposed", "Proposed, awaiting two approvals"),
                            ("active", "In force"),
                            ("superseded", "Superseded"),
                            ("rejected", "Rejected"),
                            ("withdrawn", "Withdrawn"),
                        ],
                        max_length=16,
                    ),
                ),
                ("reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "based_on",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="approvals.approvalruleset",
                    ),
                ),
                (
                    "proposed_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-version"],
            },
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="rules_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="approvals.approvalruleset",
            ),
        ),
        migrations.AddField(
            model_name="approval",
            name="rules_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="approvals.approvalruleset",
            ),
        ),
        migrations.AddField(
            model_name="extensionapproval",
            name="rules_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="approvals.approvalruleset",
            ),
        ),
        migrations.CreateModel(
            name="RuleSetVote",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[("approve", "Approve"), ("reject", "Reject")], max_length=8
                    ),
                ),
                ("comment", models.TextField(blank=True)),
                ("mfa_verified", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "rule_set",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="votes",
                        to="approvals.approvalruleset",
                    ),
                ),
                (
                    "voter",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["created_at"],
            },
        ),
        migrations.AddConstraint(
            model_name="approvalruleset",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("status",),
                name="one_active_rule_set",
            ),
        ),
        migrations.AddConstraint(
            model_name="approvalruleset",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "proposed")),
                fields=("status",),
                name="one_proposed_rule_set",
            ),
        ),
        migrations.AddConstraint(
            model_name="rulesetvote",
            constraint=models.UniqueConstraint(
                fields=("rule_set", "voter"), name="one_vote_per_rule_set"
            ),
        ),
        migrations.RunPython(earlier_decisions_counted_for_security, migrations.RunPython.noop),
    ]
