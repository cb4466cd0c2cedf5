"""Admin for the audit log: read-only for everyone, superusers included."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.db.models import Field, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, has_role
from approvals import decisions, rules
from approvals.models import AccessRequest, Approval
from approvals.policy import may_decide
from approvals.requests import approval_blockers, grant_warnings
from audit.models import AuditEvent
from audit.services import audit_events_for
from inventory.models import AccountSyncRun, AwsAccount
from keys.models import AccessKey
from vendors.models import Vendor
from vendors.selectors import ReviewState, vendor_review_state, with_review_state


def _pretty_json(value: Any, *, sort_keys: bool = True) -> SafeString | str:
    if value is None:
        return "—"
    # format_html escapes the JSON: before/after hold user-supplied text.
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=sort_keys, ensure_ascii=False)
    )


def _items(values: Any, empty: str) -> SafeString | str:
    """A list of strings as an HTML list, each escaped (risk reasons hold vendor strings)."""
    if not values:
        return empty
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((v,) for v in values)))


class RoleReadOnlyAdmin(admin.ModelAdmin):
    """Records only services write (the audit log, the inventory): security and auditors read
    them by role rather than by per-model permission grants (DESIGN.md section 9); nobody adds,
    changes or deletes them here."""

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


@admin.register(AuditEvent)
class AuditEventAdmin(RoleReadOnlyAdmin):
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


@admin.register(AwsAccount)
class AwsAccountAdmin(RoleReadOnlyAdmin):
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
class AccountSyncRunAdmin(RoleReadOnlyAdmin):
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


@admin.register(AccessKey)
class AccessKeyAdmin(RoleReadOnlyAdmin):
    """IAM-user access keys: metadata only. The delivery's ciphertext and link hash are never
    shown (fields are listed explicitly, so a new model field does not appear by itself);
    keys change only through the services in keys/services.py."""

    list_display = (
        "masked_id",
        "user_name",
        "status",
        "access_request",
        "aws_created_at",
        "last_used_at",
        "unused_flagged_at",
    )
    list_filter = ("status",)
    list_select_related = ("access_request__vendor",)
    search_fields = ("user_name", "access_request__vendor__name")
    readonly_fields = (
        "masked_id",
        "user_name",
        "status",
        "access_request",
        "replaces",
        "aws_created_at",
        "last_used_at",
        "last_used_service",
        "last_used_region",
        "last_used_checked_at",
        "unused_flagged_at",
        "delete_requested_at",
        "deactivated_at",
        "deleted_at",
        "attempts",
        "last_error",
        "delivery_state",
    )
    fields = readonly_fields

    @admin.display(description="one-time link")
    def delivery_state(self, key: AccessKey) -> str:
        delivery = getattr(key, "delivery", None)
        if delivery is None:
            return "—"
        until = f"{delivery.expires_at:%Y-%m-%d %H:%M}"
        return f"{delivery.state} (to {delivery.recipient}, until {until})"


class VendorReviewStateFilter(admin.SimpleListFilter):
    """The request's vendor's review state, computed in SQL as on the vendor list."""

    title = "vendor review state"
    parameter_name = "review_state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:

        return [(key, str(label)) for key, label in ReviewState.CHOICES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:

        if not self.value():
            return queryset
        vendors = with_review_state(Vendor.objects.all()).filter(  # type: ignore[misc]
            review_state=self.value()
        )
        return queryset.filter(vendor__in=vendors.values("pk"))


# What the request list shows (list_display below, and the newest-first order), and nothing
# more: the rest of a request (its JSON fields, documents among them), of its vendor (some thirty
# columns) and of its requester is read and turned into Python objects for nothing, 100 rows a
# page. A column shown but missing here costs a query per row, which the query-count test sees.
LIST_COLUMNS = (
    "id",
    "vendor__name",
    "strategy",
    "status",
    "risk_level",
    "required_approvals",
    "requester__username",
    "expires_on",
    "submitted_at",
    "created_at",
)


def _request_field(name: str) -> Field[Any, Any]:
    field = AccessRequest._meta.get_field(name)
    if not isinstance(field, Field):  # a reverse relation has no column to show
        raise TypeError(f"AccessRequest.{name} is not a column")
    return field


class _RequestColumn:
    """A request list column showing field `name` as `show` writes it (a field with choices:
    its label), a blank value as the admin's empty value. The admin's own rendering of a field
    (display_for_field) rebuilds the field's choices, localizes numbers and formats dates through
    the translation machinery in every cell, which made up most of the page's time: 100 rows x 9
    columns. The column keeps the field's header, sort order and CSS class (field-<name>, nowrap
    for dates and related objects, as the admin marks them)."""

    def __init__(
        self, name: str, show: Callable[[Any], str] = str, *, nowrap: bool = False
    ) -> None:
        field = _request_field(name)
        self.name = self.__name__ = name  # the admin names the column's CSS class after it
        self.short_description = field.verbose_name
        self.admin_order_field = name
        self.show = show
        self.labels = dict(field.flatchoices) if field.choices else None
        self.css_class = f"field-{name} nowrap" if nowrap else f"field-{name}"

    def __call__(self, access_request: AccessRequest) -> Any:
        return self.for_table()(access_request)

    def for_table(self) -> Callable[[AccessRequest], str | None]:
        """The column as one table writes it: the choice labels translated once, not per row.
        None for a blank value, which the admin shows as its empty value ("-"), as
        display_for_field shows a blank."""
        name, show = self.name, self.show
        if self.labels is not None:
            # An unknown value shows as itself rather than as empty.
            labels = {value: str(label) for value, label in self.labels.items()}
            show = lambda value: labels.get(value, value)  # noqa: E731

        def cell(access_request: AccessRequest) -> str | None:
            value = getattr(access_request, name)
            return None if value is None or value == "" else show(value)

        return cell


def _local_minute(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _iso_date(value: date) -> str:
    return value.isoformat()


class _RequestChangeList(ChangeList):
    """The request list loads 100 requests per page: only the columns it shows, written row by
    row in one string (admin/approvals/accessrequest/change_list.html)."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        return super().get_queryset(request, exclude_parameters).only(*LIST_COLUMNS)

    def result_table(self) -> dict[str, Any] | None:
        """The context of admin/change_list_results.html, as the admin's `result_list` tag
        makes it but with each row's cells written at once from the _RequestColumns: the tag
        renders each of the 900 cells through lookup_field and format_html, and the template
        then loops over them, most of what remained of the page's time. None, and the admin's
        tag writes the table, whenever the rows are not plain links to the request page (a
        popup, an editable list, an action checkbox, any other column)."""
        columns = [c for c in self.list_display if isinstance(c, _RequestColumn)]
        if (
            self.is_popup
            or self.formset is not None
            or len(columns) != len(self.list_display)
            or list(self.list_display_links) != columns[:1]
        ):
            return None
        headers = list(result_headers(self))
        empty = self.model_admin.get_empty_value_display()
        cells = [(column.for_table(), column.css_class) for column in columns]
        # The link to each request's page, with the list's filters to return to, differs only
        # by the request's key: built once rather than reversed 100 times.
        placeholder = "__pk__"
        link = escape(
            add_preserved_filters(
                {"preserved_filters": self.preserved_filters, "opts": self.opts},
                reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=(placeholder,),
                    current_app=self.model_admin.admin_site.name,
                ),
            )
        )
        rows = []
        for result in self.result_list:
            row = []
            for index, (cell, css_class) in enumerate(cells):
                value = cell(result)
                text = empty if value is None else escape(value)
                if index == 0:
                    url = link.replace(placeholder, escape(quote(result.pk)))
                    row.append(f'<th class="{css_class}"><a href="{url}">{text}</a></th>')
                else:
                    row.append(f'<td class="{css_class}">{text}</td>')
            # Every value and the link are escaped above; the classes are the columns' own.
            rows.append([mark_safe("".join(row))])  # noqa: S308  # nosec B308 B703
        return {
            "result_hidden_fields": [],
            "result_headers": headers,
            "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
            "results": rows,
        }


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    can_delete = False
    fields = ["approver", "decision", "comment", "mfa_verified", "created_at"]
    readonly_fields = ["approver", "decision", "comment", "mfa_verified", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("approver")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # By role, like the request itself: the admin hid the approvals so far from security
        # members, who hold no per-model permission.
        return has_role(request.user, Role.SECURITY, Role.AUDITORS) or bool(
            request.user.is_superuser
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    """Security's request list and read-only request page with approve and reject buttons.

    Nothing is editable here: decisions go through `approvals.decisions`, which checks every
    rule and writes the audit event, exactly as from the request page.
    """

    # Each column is a _RequestColumn, which _RequestChangeList.result_table writes cheaply;
    # dates as the portal's pages write them.
    list_display = [
        _RequestColumn("id"),
        _RequestColumn("vendor", nowrap=True),
        _RequestColumn("strategy"),
        _RequestColumn("status"),
        _RequestColumn("risk_level"),
        _RequestColumn("required_approvals"),
        _RequestColumn("requester", nowrap=True),
        _RequestColumn("expires_on", _iso_date, nowrap=True),
        _RequestColumn("submitted_at", _local_minute, nowrap=True),
    ]
    list_filter = [
        "status",
        "strategy",
        "risk_level",
        "vendor__tier",
        VendorReviewStateFilter,
        "admin_equivalent",
        "expires_on",
        # A date filter rather than a date hierarchy: the hierarchy reads every request's date
        # (SELECT DISTINCT over the whole table) on each page view.
        "created_at",
    ]
    search_fields = [
        "vendor__name",
        "vendor__slug",
        "requester__username",
        "role_name",
        "justification",
        "external_id",
    ]
    list_select_related = ["vendor", "requester"]
    # One COUNT(*) for the pagination is enough at 100,000 requests; not a second one unfiltered.
    show_full_result_count = False
    inlines = [ApprovalInline]
    change_form_template = "admin/approvals/accessrequest/change_form.html"

    # Field -> the method below that shows it: the admin's own display of a JSON field is its
    # compact JSON on one line, unreadable for a policy and meaningless for the preview.
    RENDERED = {
        "inline_policy": "inline_policy_json",
        "generator_input": "generator_input_json",
        "lint_findings": "lint_findings_list",
        "risk_reasons": "risk_reasons_list",
        "preview": "preview_rendered",
    }

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The request's documents are shown as people read them (RENDERED), in their place.
        names = [f.name for f in AccessRequest._meta.fields] + ["target_accounts"]
        return [self.RENDERED.get(name, name) for name in names]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # Only those: the admin would add the model form's own fields (the raw documents among
        # them, as one line of JSON each) before the read-only ones.
        return self.get_readonly_fields(request, obj)

    @admin.display(description="inline policy")
    def inline_policy_json(self, access_request: AccessRequest) -> SafeString | str:
        # Unsorted: the policy as written, its Version first, as AWS shows one.
        return _pretty_json(access_request.inline_policy, sort_keys=False)

    @admin.display(description="generator input")
    def generator_input_json(self, access_request: AccessRequest) -> SafeString | str:
        return _pretty_json(access_request.generator_input, sort_keys=False)

    @admin.display(description="lint findings")
    def lint_findings_list(self, access_request: AccessRequest) -> SafeString | str:
        lines = [
            f"{f.get('severity', '')} {f.get('code', '')}: {f.get('message', '')}"
            for f in access_request.lint_findings or []
        ]
        return _items(lines, "No finding.")

    @admin.display(description="risk reasons")
    def risk_reasons_list(self, access_request: AccessRequest) -> SafeString | str:
        return _items(access_request.risk_reasons, "No risk factor found.")

    @admin.display(description="change preview")
    def preview_rendered(self, access_request: AccessRequest) -> SafeString:
        return render_to_string(
            "admin/approvals/accessrequest/_preview.html", {"preview": access_request.preview}
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _RequestChangeList

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, Role.SECURITY, Role.AUDITORS) or bool(
            request.user.is_superuser
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        # By role, like viewing: without it the admin's index and sidebar leave the request
        # list out for security members, who hold no per-model permission.
        return self.has_view_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "<int:pk>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="approvals_accessrequest_decide",
            ),
            *super().get_urls(),
        ]

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:

        extra = dict(extra_context or {})
        if object_id:
            access_request = (
                AccessRequest.objects.select_related("vendor").filter(pk=object_id).first()
            )
            if access_request is not None:
                state = vendor_review_state(access_request.vendor_id)
                decisions_taken = list(access_request.approvals.all())
                standing = (
                    rules.request_standing(access_request, with_candidates=True)
                    if access_request.status == AccessRequest.Status.SUBMITTED
                    else None
                )
                extra.update(
                    {
                        "portal_request": access_request,
                        "timeline": audit_events_for(access_request),
                        "vendor_review_state": ReviewState.LABELS[state],
                        "blockers": approval_blockers(access_request, review_state=state),
                        "grant_warnings": grant_warnings(access_request),
                        # The request page's rule (not one's own request, not twice):
                        # approvals.decisions checks it again on the POST.
                        "can_decide": may_decide(request.user, access_request, standing).allowed,
                        "standing": standing,
                        "mfa_verified": session_mfa_verified(request),
                        # Where the quorum stands ("1 of 2"), and the viewer's own decision:
                        # one who decided sees it instead of the buttons (one counts once).
                        "approval_count": sum(
                            a.decision == Approval.Decision.APPROVE for a in decisions_taken
                        ),
                        "own_decision": next(
                            (a for a in decisions_taken if a.approver_id == request.user.pk),
                            None,
                        ),
                    }
                )
        return super().changeform_view(request, object_id, form_url, extra)

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        from django.contrib import messages
        from django.core.exceptions import PermissionDenied, ValidationError
        from django.shortcuts import redirect

        if request.method != "POST":
            return redirect("admin:approvals_accessrequest_change", pk)
        comment = request.POST.get("comment", "")
        mfa = session_mfa_verified(request)
        try:
            if request.POST.get("decision") == "reject":
                decisions.request_reject(
                    request_id=pk, approver=request.user, mfa_verified=mfa, comment=comment
                )
                messages.success(request, "Request rejected.")
            else:
                decisions.request_approve(
                    request_id=pk, approver=request.user, mfa_verified=mfa, comment=comment
                )
                messages.success(request, "Approval recorded.")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except PermissionDenied as error:
            messages.error(request, str(error) or "You may not decide this request.")
        return redirect("admin:approvals_accessrequest_change", pk)
