"""The security team's admin pages for vendors, the checklist catalogue and reviews.

Changes made here go through the same services as the browser pages, so the rules and the
audit log hold whatever the entry point. Reviews are read-only here: they are decided on the
review page, where the decider-is-not-submitter rule and the blocking items are shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accessportal.mfa import session_mfa_verified
from vendors import services
from vendors.models import (
    ChecklistAnswer,
    ChecklistItem,
    ComplementaryControl,
    EvidenceFile,
    KeyRecipientChange,
    ReviewException,
    SubprocessorReview,
    SubserviceOrganization,
    Vendor,
    VendorContact,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ContactInline(ReadOnlyInline):
    model = VendorContact
    fields = ["name", "email", "role", "receives_access_keys"]


class KeyRecipientChangeInline(ReadOnlyInline):
    """Read-only: a change is confirmed or rejected on the vendor page, by the service that
    checks the second factor and who proposed it."""

    model = KeyRecipientChange
    fields = ["status", "email", "previous_email", "proposed_by", "proposed_at", "decided_by"]
    readonly_fields = ["status", "email", "previous_email", "proposed_by", "proposed_at"]


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "service", "tier", "tier_override", "status", "internal_owner"]
    list_filter = ["status", "tier", "tier_override", "access_level", "data_sensitivity"]
    search_fields = ["name", "slug", "legal_name", "service"]
    readonly_fields = ["tier", "created_by", "created_at", "updated_at", "status", "offboarded_on"]
    inlines = [ContactInline, KeyRecipientChangeInline]
    list_select_related = ["internal_owner"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "slug"] if obj else fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # vendors are offboarded, never deleted: reports and the audit need them

    def save_model(self, request: HttpRequest, obj: Vendor, form: Any, change: bool) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k in services.VENDOR_FIELDS}
        mfa_verified = session_mfa_verified(request)
        if change:
            data.pop("slug", None)
            saved = services.vendor_update(
                vendor_id=obj.pk, actor=request.user, data=data, mfa_verified=mfa_verified
            )
        else:
            saved = services.vendor_create(actor=request.user, data=data, mfa_verified=mfa_verified)
        obj.pk = saved.pk


@admin.register(ChecklistItem)
class ChecklistItemAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "section",
        "short_text",
        "evidence_required",
        "blocking_tiers",
        "active",
        "order",
    ]
    list_filter = ["section", "active", "evidence_required"]
    list_editable = ["order"]
    search_fields = ["code", "text"]

    @admin.display(description="question")
    def short_text(self, obj: ChecklistItem) -> str:
        return obj.text[:90]

    def get_changelist_formset(self, request: HttpRequest, **kwargs: Any) -> Any:
        # The list's editable column has no <label> per row (Django's list_editable): each
        # order input is named for screen readers instead (axe "label").
        formset = super().get_changelist_formset(request, **kwargs)
        formset.form.base_fields["order"].widget.attrs["aria-label"] = "Order"
        return formset

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: answers given refer to the item

    def save_model(self, request: HttpRequest, obj: ChecklistItem, form: Any, change: bool) -> None:
        services.checklist_item_save(
            item=obj, actor=request.user, mfa_verified=session_mfa_verified(request)
        )


class AnswerInline(ReadOnlyInline):
    model = ChecklistAnswer
    fields = ["item_code", "item_text", "blocking", "answer", "note"]


class ExceptionInline(ReadOnlyInline):
    model = ReviewException
    fields = ["description", "vendor_response", "relevant", "disposition"]


class CuecInline(ReadOnlyInline):
    model = ComplementaryControl
    fields = ["description", "mapped_control", "owner", "not_applicable_reason"]


class SubserviceInline(ReadOnlyInline):
    model = SubserviceOrganization
    fields = ["name", "service", "method", "controls_noted", "report_obtained"]


class EvidenceInline(ReadOnlyInline):
    model = EvidenceFile
    fields = ["original_name", "answer", "size", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = ["original_name", "answer", "size", "sha256", "uploaded_by", "uploaded_at"]


@admin.register(SubprocessorReview)
class SubprocessorReviewAdmin(admin.ModelAdmin):
    list_display = [
        "vendor",
        "status",
        "report_type",
        "period_end",
        "submitted_by",
        "decided_by",
        "next_review_due",
        "decide_link",
    ]
    list_filter = ["status", "report_type", "opinion", "tier_at_review"]
    search_fields = ["vendor__name", "auditor_firm"]
    list_select_related = ["vendor", "submitted_by", "decided_by"]
    inlines = [AnswerInline, ExceptionInline, CuecInline, SubserviceInline, EvidenceInline]

    @admin.display(description="decision page")
    def decide_link(self, obj: SubprocessorReview) -> str:
        return format_html(
            '<a href="{}">open</a>', reverse("vendors:review_detail", kwargs={"pk": obj.pk})
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
