"""Admin for the audit log: read-only for everyone, superusers included."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accessportal.roles import Role, has_role
from approvals.models import AccountSyncRun, AuditEvent, AwsAccount


def _pretty_json(value: Any) -> SafeString | str:
    if value is None:
        return "—"
    # format_html escapes the JSON: before/after hold user-supplied text.
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The append-only log as the security team and auditors browse it: nothing is editable.

    Chain verification reads every row, so it is not run on page loads; run
    `manage.py verify_audit_log` (or schedule it) instead.
    """

    list_display = (
        "sequence",
        "created_at",
        "actor_username",
        "action",
        "object_repr",
        "source_ip",
    )
    list_display_links = ("sequence",)
    list_filter = ("action", "created_at")
    search_fields = ("object_repr", "actor_username", "action", "=object_id")
    ordering = ("-sequence",)
    # COUNT(*) over the whole log on every page is wasted work at audit-log sizes.
    show_full_result_count = False
    list_per_page = 100
    fields = (
        "sequence",
        "created_at",
        "actor",
        "actor_username",
        "source_ip",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before_json",
        "after_json",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields

    @admin.display(description="before")
    def before_json(self, event: AuditEvent) -> SafeString | str:
        return _pretty_json(event.before)

    @admin.display(description="after")
    def after_json(self, event: AuditEvent) -> SafeString | str:
        return _pretty_json(event.after)

    def _may_read(self, request: HttpRequest) -> bool:
        # The audit log belongs to security and auditors (DESIGN.md section 9), by role rather
        # than by per-model permission grants.
        return has_role(request.user, Role.SECURITY, Role.AUDITORS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_read(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_read(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _InventoryReadOnlyAdmin(admin.ModelAdmin):
    """The account inventory is written by the sync only; security and auditors read it."""

    def _may_read(self, request: HttpRequest) -> bool:
        return has_role(request.user, Role.SECURITY, Role.AUDITORS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_read(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_read(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AwsAccount)
class AwsAccountAdmin(_InventoryReadOnlyAdmin):
    """Accounts as the last sync left them; closed ones stay for history."""

    list_display = (
        "account_id",
        "name",
        "account_type",
        "domain",
        "environment",
        "quality",
        "substrate_version",
        "status",
        "last_seen_at",
    )
    list_filter = ("status", "account_type", "environment", "quality")
    search_fields = ("=account_id", "name", "email", "domain")
    list_per_page = 100
    readonly_fields = (
        "account_id",
        "name",
        "email",
        "account_type",
        "domain",
        "environment",
        "quality",
        "substrate_version",
        "tags_json",
        "status",
        "first_seen_at",
        "last_seen_at",
    )
    fields = readonly_fields

    @admin.display(description="tags")
    def tags_json(self, account: AwsAccount) -> SafeString | str:
        return _pretty_json(account.tags)


@admin.register(AccountSyncRun)
class AccountSyncRunAdmin(_InventoryReadOnlyAdmin):
    """Each sync's outcome, counts, error and mismatches."""

    list_display = (
        "started_at",
        "status",
        "triggered_by",
        "seen",
        "created",
        "updated",
        "closed",
        "skipped_suspended",
    )
    list_filter = ("status",)
    list_select_related = ("triggered_by",)
    readonly_fields = (
        "status",
        "started_at",
        "finished_at",
        "triggered_by",
        "seen",
        "created",
        "updated",
        "closed",
        "skipped_suspended",
        "mismatches_json",
        "error",
    )
    fields = readonly_fields

    @admin.display(description="mismatches")
    def mismatches_json(self, run: AccountSyncRun) -> SafeString | str:
        return _pretty_json(run.mismatches)
