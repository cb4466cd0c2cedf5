"""The portal's form for a new API token (the tokens page in web/views/tokens.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from api.models import ApiToken
from api.tokens import scopes_for

DEFAULT_DAYS = 30


class ApiTokenForm(forms.Form):
    """Parses the fields; `api.tokens.token_create` applies the rules (scope, end date)."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Where the token is used, for example the CI system or the chat bot."),
    )
    scope = forms.ChoiceField(label=_("Scope"), widget=forms.RadioSelect)
    expires_on = forms.DateField(
        label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("scope", ApiToken.Scope.READ)
        kwargs["initial"].setdefault(
            "expires_on", timezone.localdate() + timedelta(days=DEFAULT_DAYS)
        )
        super().__init__(*args, **kwargs)
        labels = dict(ApiToken.Scope.choices)
        self.fields["scope"].choices = [(s, labels[s]) for s in scopes_for(user)]  # type: ignore[attr-defined]
        self.fields["expires_on"].help_text = _(
            "At most %(days)s days from today. An approving token acts only while you have "
            "signed in with your second factor within the last %(hours)s hours."
        ) % {"days": settings.PORTAL_API_TOKEN_MAX_DAYS, "hours": settings.PORTAL_API_MFA_HOURS}
