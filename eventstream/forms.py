"""The event stream's form: it parses input; `eventstream.services` decides."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from eventstream.services import NAME_MAX_LENGTH, URL_MAX_LENGTH


class EndpointForm(forms.Form):
    """Security adds a receiver of the audit event stream."""

    name = forms.CharField(label=_("Name"), max_length=NAME_MAX_LENGTH)
    url = forms.URLField(
        label=_("URL"),
        max_length=URL_MAX_LENGTH,
        assume_scheme="https",
        help_text=_(
            "Your SIEM's HTTPS collector. Kept encrypted: the pages show only its host. "
            "Plain http only to this machine."
        ),
    )
