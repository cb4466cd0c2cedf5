"""Security's own names for vendors' AWS accounts, beside the catalogue in the repository."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accessportal.mfa import session_mfa_verified
from verification import findings
from verification.models import KnownVendorAccount


@admin.register(KnownVendorAccount)
class KnownVendorAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "account_id", "source", "added_by", "added_at"]
    search_fields = ["name", "account_id"]
    fields = ["account_id", "name", "source", "added_by", "added_at"]
    readonly_fields = ["added_by", "added_at"]

    def save_model(
        self, request: HttpRequest, obj: KnownVendorAccount, form: Any, change: bool
    ) -> None:
        # Through the service: security with a second factor only, and audited.
        saved = findings.known_vendor_account_save(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            account_id=form.cleaned_data["account_id"],
            name=form.cleaned_data["name"],
            source=form.cleaned_data.get("source", ""),
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: KnownVendorAccount) -> None:
        findings.known_vendor_account_delete(
            actor=request.user, mfa_verified=session_mfa_verified(request), entry_id=obj.pk
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is None else super().has_delete_permission(request, obj)
