"""Forms for vendors, contacts and reviews: they parse input; services apply the rules."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accessportal.roles import Role, has_role
from vendors.models import (
    VENDOR_FIELDS,
    ChecklistAnswer,
    ComplementaryControl,
    DataCategory,
    ReviewException,
    SubprocessorReview,
    SubserviceOrganization,
    Tier,
    Vendor,
    VendorContact,
)
from vendors.selectors import ChecklistSection, ReviewState, checklist_sections
from vendors.services import vendor_name_problem

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TSC_CHOICES = [
    ("security", _("Security")),
    ("availability", _("Availability")),
    ("confidentiality", _("Confidentiality")),
    ("processing_integrity", _("Processing integrity")),
    ("privacy", _("Privacy")),
]


def show_text_limits(form: forms.BaseForm) -> None:
    """Each text field's length limit in its help text, and no maxlength attribute: the
    browser would cut a pasted text short without a word; the server says it is too long."""
    for field in form.fields.values():
        limit = getattr(field, "max_length", None)
        if not isinstance(field, forms.CharField) or not limit:
            continue
        field.widget.attrs.pop("maxlength", None)
        note = _("At most %(n)s characters.") % {"n": f"{limit:,}"}
        field.help_text = f"{field.help_text} {note}" if field.help_text else note


class LimitsShown:
    """A form whose text fields show their limit and are never cut short (`show_text_limits`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        show_text_limits(cast(forms.BaseForm, self))


class VendorForm(forms.ModelForm):
    """The vendor record; the tier override fields only for the security team."""

    data_categories = forms.MultipleChoiceField(
        choices=DataCategory.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Data categories"),
    )
    website = forms.URLField(
        label=_("Website"), required=False, assume_scheme="https", max_length=200
    )

    class Meta:
        model = Vendor
        fields = list(VENDOR_FIELDS)
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}),
            "fourth_parties": forms.Textarea(attrs={"rows": 3}),
            "tier_override_reason": forms.Textarea(attrs={"rows": 2}),
            "contract_start": DATE,
            "contract_end": DATE,
            "dpa_signed_on": DATE,
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = cast(forms.ModelChoiceField, self.fields["internal_owner"])
        owner.queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        if self.instance.pk:
            self.fields["slug"].disabled = True
        if not has_role(user, Role.SECURITY):
            del self.fields["tier_override"]
            del self.fields["tier_override_reason"]
        show_text_limits(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Also checked by the service; here so that it shows with the form's other errors.
        start, end = data.get("contract_start"), data.get("contract_end")
        if start and end and end < start:
            self.add_error("contract_end", _("The contract cannot end before it starts."))
        return data

    def clean_name(self) -> str:

        name = str(self.cleaned_data.get("name") or "")
        problem = vendor_name_problem(name)
        if problem:
            raise forms.ValidationError(problem)
        return name


class ContactForm(LimitsShown, forms.ModelForm):
    class Meta:
        model = VendorContact
        fields = ["name", "email", "role", "receives_access_keys"]


class VendorFilterForm(forms.Form):
    """The vendor list's search and filters (GET)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    tier = forms.ChoiceField(
        label=_("Tier"), required=False, choices=[("", _("Any tier")), *Tier.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Vendor.Status.choices]
    )
    review_state = forms.ChoiceField(
        label=_("Review"),
        required=False,
        choices=[("", _("Any review state")), *ReviewState.CHOICES],
    )


class ReviewReportForm(LimitsShown, forms.ModelForm):
    """The SOC 2 report's facts."""

    trust_services_categories = forms.MultipleChoiceField(
        choices=TSC_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Trust services categories covered"),
    )
    scope_covers_service = forms.NullBooleanField(
        label=_("The report's scope covers the service we buy"),
        required=False,
        widget=forms.NullBooleanSelect(),
    )

    class Meta:
        model = SubprocessorReview
        fields = [
            "report_type",
            "scope_covers_service",
            "trust_services_categories",
            "period_start",
            "period_end",
            "report_issued_on",
            "auditor_firm",
            "opinion",
            "bridge_letter_through",
            "alternative_evidence",
            "residual_risk",
        ]
        widgets = {
            "period_start": DATE,
            "period_end": DATE,
            "report_issued_on": DATE,
            "bridge_letter_through": DATE,
            "alternative_evidence": forms.Textarea(attrs={"rows": 3}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and start > end:
            self.add_error("period_end", _("The period cannot end before it starts."))
        return data


class ChecklistAnswersForm(forms.Form):
    """One radio group and one note per checklist answer of a review."""

    def __init__(self, *args: Any, answers: list[ChecklistAnswer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers = answers
        for answer in answers:
            self.fields[f"answer_{answer.pk}"] = forms.ChoiceField(
                label=f"{answer.item_code}. {answer.item_text}",
                required=False,
                choices=ChecklistAnswer.Answer.choices,
                widget=forms.RadioSelect,
                initial=answer.answer,
            )
            self.fields[f"note_{answer.pk}"] = forms.CharField(
                label=_("Note on %(code)s") % {"code": answer.item_code},
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                initial=answer.note,
                max_length=4000,
            )
        show_text_limits(self)

    def rows(self) -> list[tuple[ChecklistAnswer, forms.BoundField, forms.BoundField]]:
        return [(a, self[f"answer_{a.pk}"], self[f"note_{a.pk}"]) for a in self.answers]

    def sections(self) -> list[ChecklistSection]:
        """The rows grouped by checklist section, each counting the answers the form holds
        now (the saved ones, or those just sent when the form comes back with errors)."""
        return checklist_sections((row[0], row, bool(row[1].value())) for row in self.rows())

    def cleaned_answers(self) -> dict[int, tuple[str, str]]:
        return {
            a.pk: (
                self.cleaned_data[f"answer_{a.pk}"] or "",
                self.cleaned_data[f"note_{a.pk}"].strip(),
            )
            for a in self.answers
        }


class ExceptionForm(LimitsShown, forms.ModelForm):
    prefix = "exception"

    class Meta:
        model = ReviewException
        fields = ["description", "vendor_response", "relevant", "disposition"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "vendor_response": forms.Textarea(attrs={"rows": 2}),
        }


class CuecForm(LimitsShown, forms.ModelForm):
    prefix = "cuec"

    class Meta:
        model = ComplementaryControl
        fields = ["description", "mapped_control", "owner", "not_applicable_reason"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "not_applicable_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mapped = data.get("mapped_control") and data.get("owner")
        if not mapped and not data.get("not_applicable_reason"):
            raise forms.ValidationError(
                _("Map the CUEC to our control and an owner, or say why it does not apply.")
            )
        return data


class SubserviceForm(LimitsShown, forms.ModelForm):
    prefix = "subservice"

    class Meta:
        model = SubserviceOrganization
        fields = ["name", "service", "method", "controls_noted", "report_obtained"]
        widgets = {"controls_noted": forms.Textarea(attrs={"rows": 2})}


DETAIL_FORMS: dict[str, type[forms.ModelForm]] = {
    "exception": ExceptionForm,
    "cuec": CuecForm,
    "subservice": SubserviceForm,
}


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("Evidence file"))
    answer = forms.TypedChoiceField(
        label=_("For checklist item"), required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, answers: list[ChecklistAnswer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["answer"]).choices = [
            ("", _("The review as a whole")),
            *((a.pk, f"{a.item_code}. {a.item_text[:70]}") for a in answers),
        ]


class DecisionForm(LimitsShown, forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        widget=forms.RadioSelect,
        choices=[
            (SubprocessorReview.Status.APPROVED, _("Approve")),
            (SubprocessorReview.Status.CONDITIONAL, _("Approve with conditions")),
            (SubprocessorReview.Status.REJECTED, _("Reject")),
        ],
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    conditions = forms.CharField(
        label=_("Conditions"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
