"""Input of the report and access-map pages (GET forms: nothing here changes data)."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals.models import Strategy
from reports.audit_export import FORMATS as AUDIT_FORMATS
from reports.renderers import CSV_PARTS
from vendors.models import Tier, Vendor

DATE_INPUT = forms.DateInput(attrs={"type": "date"})
# The earliest date a report or filter takes. The portal holds no record older than this, and
# the reports compute dates before and after the one given (a review's staleness, the quarter
# before): from 0001-01-01 those overflow Python's date range.
EARLIEST_DATE = date(1970, 1, 1)
# The latest date a filter takes, far from date.max for the same reason (a day's end in UTC).
LATEST_DATE = date(9000, 12, 31)


def _in_range(value: object) -> object:
    if isinstance(value, date) and not EARLIEST_DATE <= value <= LATEST_DATE:
        raise forms.ValidationError(
            _("Choose a date from %(first)s to %(last)s.")
            % {"first": EARLIEST_DATE.isoformat(), "last": LATEST_DATE.isoformat()}
        )
    return value


def _not_in_future(value: object) -> object:
    if value and value > timezone.localdate():  # type: ignore[operator]
        raise forms.ValidationError(_("Choose today or an earlier date."))
    return _in_range(value)


class SubprocessorReportForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"), choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)"), ("pdf", "PDF")]
    )
    as_of = forms.DateField(
        label=_("As of"), required=False, widget=DATE_INPUT, help_text=_("Empty: now.")
    )
    period_start = forms.DateField(
        label=_("Period from"),
        required=False,
        widget=DATE_INPUT,
        help_text=_("Empty: the first day of the as-of date's quarter."),
    )
    tier = forms.ChoiceField(
        label=_("Tier"), required=False, choices=[("", _("All")), *Tier.choices]
    )
    status = forms.ChoiceField(
        label=_("Vendor status"), required=False, choices=[("", _("All")), *Vendor.Status.choices]
    )
    part = forms.ChoiceField(
        label=_("CSV table"),
        required=False,
        choices=[
            ("table", _("Subprocessors")),
            ("approval-trail", _("Appendix A: approval trail, every event")),
            ("requests", _("Appendix A: approval trail, one line per request")),
            ("changes", _("Appendix B: changes in the period")),
            ("exceptions", _("Appendix C: exceptions register")),
        ],
        help_text=_("XLSX and PDF hold every table, with Appendix A one line per request."),
    )

    def clean_as_of(self) -> object:
        return _not_in_future(self.cleaned_data.get("as_of"))

    def clean_period_start(self) -> object:
        return _in_range(self.cleaned_data.get("period_start"))

    def clean_part(self) -> str:
        part = self.cleaned_data.get("part") or "table"
        assert part in CSV_PARTS  # noqa: S101  the choices above are CSV_PARTS
        return str(part)


class AuditTrailForm(forms.Form):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[(f, {"csv": "CSV", "jsonl": "JSON lines"}[f]) for f in AUDIT_FORMATS],
    )
    as_of = forms.DateField(
        label=_("Up to"), required=False, widget=DATE_INPUT, help_text=_("Empty: now.")
    )

    def clean_as_of(self) -> object:
        return _not_in_future(self.cleaned_data.get("as_of"))


class AccessMapFilterForm(forms.Form):
    production_only = forms.BooleanField(label=_("Production only"), required=False)
    admin_only = forms.BooleanField(label=_("Admin-equivalent only"), required=False)
    expiring_only = forms.BooleanField(label=_("Expiring within 30 days"), required=False)
    strategy = forms.ChoiceField(
        label=_("Strategy"), required=False, choices=[("", _("All")), *Strategy.choices]
    )
    domain = forms.CharField(label=_("Domain"), required=False, max_length=64)
    environment = forms.CharField(label=_("Environment"), required=False, max_length=64)
    q = forms.CharField(label=_("Vendor"), required=False, max_length=120)


class AuditLogFilterForm(forms.Form):
    action = forms.CharField(
        label=_("Action"), required=False, max_length=100, help_text=_("E.g. request. or vendor.")
    )
    object_type = forms.CharField(
        label=_("Object type"),
        required=False,
        max_length=100,
        help_text=_("E.g. vendors.vendor"),
    )
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=255)
    actor = forms.CharField(label=_("Actor"), required=False, max_length=255)
    since = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    until = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)

    def clean_since(self) -> object:
        return _in_range(self.cleaned_data.get("since"))

    def clean_until(self) -> object:
        return _in_range(self.cleaned_data.get("until"))
