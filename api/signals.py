"""Each use of a second factor in the portal is remembered for the API (tokens.py)."""

from __future__ import annotations

from typing import Any

from allauth.mfa.signals import authenticator_used
from django.dispatch import receiver

from api import tokens


@receiver(authenticator_used)
def remember_second_factor(sender: Any, user: Any, **kwargs: Any) -> None:
    tokens.mfa_verified_now(user)
