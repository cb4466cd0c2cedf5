"""The forms of the re-certification pages: they parse input; the services decide."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from recertification.models import Certification
from recertification.services import NOTE_MAX_LENGTH
from vendors.models import Tier, Vendor


class CampaignStartForm(forms.Form):
    """Security starts a campaign: a name, a deadline and an optional filter."""

    name = forms.CharField(label=_("Name"), max_length=200)
    deadline = forms.DateField(label=_("Deadline"), widget=forms.DateInput(attrs={"type": "date"}))
    vendor = forms.ModelChoiceField(
        label=_("Only this vendor"),
        queryset=Vendor.objects.filter(status=Vendor.Status.ACTIVE).order_by("name"),
        required=False,
        empty_label=_("Every vendor"),
    )
    tier = forms.ChoiceField(
        label=_("Only vendors of this tier"),
        choices=[("", _("Every tier")), *Tier.choices],
        required=False,
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["deadline"].initial = timezone.localdate() + timedelta(days=14)


class AnswerForm(forms.Form):
    """One part's answer: keep or revoke, with a note."""

    decision = forms.ChoiceField(choices=Certification.Decision.choices)
    note = forms.CharField(
        max_length=NOTE_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
