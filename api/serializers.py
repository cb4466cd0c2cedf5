"""What the API shows of each object, and the shapes it accepts.

Output serializers are read-only views of the models: every change goes through a service
(views.py), so no serializer `save()` exists to bypass a rule. Input serializers parse types;
the rules of a request are checked by the same form and services as the pages
(`request_form_data`).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from rest_framework import serializers

from api.models import ApiToken
from approvals.forms import AccessRequestForm
from approvals.models import AccessRequest, Approval
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from keys.models import AccessKey
from reports.models import ReportExport
from vendors.models import REVIEW_LIFECYCLE, SubprocessorReview, Tier, Vendor
from verification.models import ExternalAccessFinding


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    token = serializers.DictField(child=serializers.CharField())
    may_approve = serializers.BooleanField(
        help_text="This token stands for a second factor now (approve scope, recent MFA)."
    )


class TokenSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    revoked_by = serializers.CharField(
        source="revoked_by.username", read_only=True, default=None, allow_null=True
    )  # null while the token is live: documented so, or clients' validators refuse it
    live = serializers.BooleanField(source="is_live", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "key_id",
            "owner",
            "scope",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
            "live",
        ]
        read_only_fields = fields


class VendorSerializer(serializers.ModelSerializer):
    # A plain string: the model's URLField may be blank, which a `format: uri` would refuse.
    website = serializers.CharField(read_only=True, help_text="The vendor's site, or empty.")

    class Meta:
        model = Vendor
        fields = [
            "id",
            "name",
            "slug",
            "legal_name",
            "service",
            "website",
            "purpose",
            "data_sensitivity",
            "access_level",
            "criticality",
            "tier",
            "data_categories",
            "storage_regions",
            "processing_regions",
            "contract_start",
            "contract_end",
            "status",
            "offboarded_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)

    class Meta:
        model = SubprocessorReview
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "status",
            "tier_at_review",
            "report_type",
            "scope_covers_service",
            "period_start",
            "period_end",
            "report_issued_on",
            "auditor_firm",
            "opinion",
            "bridge_letter_through",
            "residual_risk",
            "submitted_at",
            "decided_at",
            "decision_comment",
            "conditions",
            "next_review_due",
            "created_at",
        ]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username", read_only=True)

    class Meta:
        model = Approval
        fields = [
            "id",
            "access_request",
            "approver",
            "decision",
            "comment",
            "mfa_verified",
            "counted_for",
            "created_at",
        ]
        read_only_fields = fields


class PullRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = PullRequest
        fields = [
            "id",
            "access_request",
            "forge",
            "purpose",
            "number",
            "url",
            "branch",
            "base",
            "state",
            "title",
            "approved_sha",
            "merge_sha",
            "commands",
            "commands_done_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AccessRequestSerializer(serializers.ModelSerializer):
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    requester = serializers.CharField(source="requester.username", read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    pull_requests = PullRequestSerializer(many=True, read_only=True)

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "requester",
            "status",
            "strategy",
            "principals",
            "external_id",
            "target_domains",
            "target_environments",
            "target_qualities",
            "role_name",
            "policy_source",
            "managed_policy_arns",
            "inline_policy",
            "justification",
            "expires_on",
            "risk_level",
            "risk_reasons",
            "admin_equivalent",
            "required_approvals",
            "lint_findings",
            "extension_until",
            "extension_reason",
            "extensions_granted",
            "created_at",
            "updated_at",
            "submitted_at",
            "approvals",
            "pull_requests",
        ]
        read_only_fields = fields


class AccessRequestInputSerializer(serializers.Serializer):
    """A draft's fields, as the request form names them; lists where the form takes lines.

    Only the types are checked here: `request_form_data` hands the values to the pages' form
    (AccessRequestForm) and the services, which apply every rule once for both.
    """

    vendor = serializers.IntegerField()
    strategy = serializers.ChoiceField(choices=AccessRequestForm.base_fields["strategy"].choices)  # type: ignore[attr-defined]
    principals = serializers.ListField(
        child=serializers.CharField(max_length=2048), required=False, max_length=100
    )
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=1224)
    domains = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    environments = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )
    qualities = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    role_name = serializers.CharField(required=False, allow_blank=True, max_length=64)
    policy_source = serializers.ChoiceField(
        choices=AccessRequest.PolicySource.choices, required=False
    )
    managed_policy_arns = serializers.ListField(
        child=serializers.CharField(max_length=2048), required=False, max_length=20
    )
    inline_policy = serializers.JSONField(
        required=False, help_text="An IAM policy document (an object), or its JSON text."
    )
    generator_service = serializers.CharField(required=False, allow_blank=True, max_length=40)
    generator_levels = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False
    )
    generator_resources = serializers.ListField(
        child=serializers.CharField(max_length=2048), required=False, max_length=50
    )
    justification = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    expires_on = serializers.DateField(required=False, allow_null=True)


# The form's field for each API field whose name differs (errors are reported by API name).
FORM_TO_API_FIELD = {"other_policy_arns": "managed_policy_arns", "__all__": "non_field_errors"}


def request_form_data(values: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The pages' form data for API `values`, over `base` (a draft's current form values, for
    a partial update). Lines become newline-joined text, as the form's textareas take them."""
    data: dict[str, Any] = dict(base or {})
    for key, value in values.items():
        if key == "principals":
            data[key] = "\n".join(value)
        elif key == "managed_policy_arns":
            # Every ARN through the form's free-text field: the form merges both into one list.
            data["managed_policy_arns"] = []
            data["other_policy_arns"] = "\n".join(value)
        elif key == "generator_resources":
            data[key] = "\n".join(value)
        elif key == "inline_policy":
            data[key] = value if isinstance(value, str) else json.dumps(value, indent=2)
        elif key == "expires_on":
            data[key] = value.isoformat() if value else ""
        else:
            data[key] = value
    return data


def form_errors(form: AccessRequestForm) -> dict[str, list[str]]:
    return {
        FORM_TO_API_FIELD.get(field, field): [str(m) for m in messages]
        for field, messages in form.errors.items()
    }


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ExtensionAskSerializer(serializers.Serializer):
    until = serializers.DateField()
    reason = serializers.CharField(max_length=4000, allow_blank=True)


class ExtensionDecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ReviewDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=[(s, s) for s in sorted(REVIEW_LIFECYCLE.group("decided"))]
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    conditions = serializers.CharField(
        required=False, allow_blank=True, max_length=4000, default=""
    )


class ExportInputSerializer(serializers.Serializer):
    """A PDF binder of the subprocessor report (CSV and XLSX are pages' downloads)."""

    as_of = serializers.DateField(required=False, allow_null=True, default=None)
    period_start = serializers.DateField(required=False, allow_null=True, default=None)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False, default="")
    vendor_status = serializers.ChoiceField(
        choices=Vendor.Status.choices, required=False, default=""
    )


class AccessKeySerializer(serializers.ModelSerializer):
    """A key's metadata: its id and state, never its secret (which the portal never keeps)."""

    class Meta:
        model = AccessKey
        fields = [
            "id",
            "access_request",
            "user_name",
            "access_key_id",
            "status",
            "aws_created_at",
            "last_used_at",
            "last_used_service",
            "last_used_region",
            "deactivated_at",
            "deleted_at",
            "created_at",
        ]
        read_only_fields = fields


class AwsAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = AwsAccount
        fields = [
            "id",
            "account_id",
            "name",
            "account_type",
            "domain",
            "environment",
            "quality",
            "status",
            "first_seen_at",
            "last_seen_at",
        ]
        read_only_fields = fields


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExternalAccessFinding
        fields = [
            "id",
            "account_id",
            "role_name",
            "principal",
            "principal_account_id",
            "principal_name",
            "external_id_required",
            "source",
            "status",
            "matched_request",
            "adopted_request",
            "decided_at",
            "reason",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
        ]
        read_only_fields = fields


class ReportExportSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportExport
        fields = [
            "id",
            "as_of",
            "period_start",
            "tier",
            "vendor_status",
            "status",
            "progress",
            "error",
            "pages",
            "size",
            "sha256",
            "row_count",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "created_at",
            "actor",
            "source_ip",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


def _blank_choices_allowed(*serializer_classes: type[serializers.ModelSerializer]) -> None:
    """A read-only model field loses DRF's `allow_blank`, so the schema would not admit the
    empty value a `blank=True` choice field holds (a strategy without permissions has no
    policy source). Such fields are declared here with the empty choice allowed."""
    for cls in serializer_classes:
        model = cls.Meta.model
        for name in cls.Meta.fields:
            if name in cls._declared_fields:
                continue
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:  # a property or a source path: not a column
                continue
            if getattr(field, "choices", None) and getattr(field, "blank", False):
                cls._declared_fields[name] = serializers.ChoiceField(
                    choices=field.choices, allow_blank=True, read_only=True
                )


_blank_choices_allowed(
    VendorSerializer,
    ReviewSerializer,
    ApprovalSerializer,
    PullRequestSerializer,
    AccessRequestSerializer,
    AccessKeySerializer,
    AwsAccountSerializer,
    FindingSerializer,
    ReportExportSerializer,
)
