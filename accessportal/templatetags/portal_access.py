"""Template filters about who may open what: `{% if request.user|may_open:url %}` shows a link
only to those the linked page lets in (`accessportal.roles.may_open`, the view's own rule)."""

from __future__ import annotations

from typing import Any

from django import template

from accessportal.roles import may_open as user_may_open

register = template.Library()


@register.filter
def may_open(user: Any, url: str) -> bool:
    return bool(url) and user_may_open(user, str(url))
