"""Input of the report and access-map pages (GET forms: nothing here changes data)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from approvals.models.requests import Strategy
from reports.audit_export import FORMATS as AUDIT_FORMATS
from reports.renderers import CSV_PARTS
from vendors.models import Tier, Vendor

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


def _not_in_future(value: object) -> object:
    if value and value > timezone.localdate():  # type: ignore[operator]
        raise forms.ValidationError(_("Choose today or an earlier date."))
    return value


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
