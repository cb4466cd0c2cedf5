"""The portal's roles: Django groups created by a data migration (DESIGN.md section 2).

Every signed-in user is a requester; `security` approves and administers; `auditors` read and
export. Views ask `has_role`, which reads the user's groups once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase


class Role(StrEnum):
    """Group names; the data migration creates one group each."""

    REQUESTERS = "requesters"
    SECURITY = "security"
    AUDITORS = "auditors"


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The roles of `user`, cached on the user object for the rest of the request."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached: frozenset[str] | None = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        names.add(Role.REQUESTERS)  # every signed-in user may request access
        cached = frozenset(names & {r.value for r in Role})
        setattr(user, "_portal_roles", cached)  # noqa: B010 - a per-request cache, not a field
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    """True when the user holds at least one of `roles`."""
    return bool(user_roles(user) & {r.value for r in roles})


def can_write(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Auditors read and export but change nothing; everyone else signed in may write.

    Every signed-in user is a requester, auditors included, so the auditor role must subtract
    rights rather than add them. A security member who is also an auditor keeps security's.
    """
    roles = user_roles(user)
    return bool(roles) and (Role.AUDITORS not in roles or Role.SECURITY in roles)


View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def role_required(*roles: Role, write: bool = False) -> Callable[[View], View]:
    """View decorator: 403 unless the signed-in user holds one of `roles` (any role when none
    is named) and, for `write=True`, may change things (see `can_write`).

    Anonymous users are sent to the login page by `login_required`, applied here too.
    """
    from django.contrib.auth.decorators import login_required

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if roles and not has_role(request.user, *roles):
                raise PermissionDenied
            if write and not can_write(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapper)  # type: ignore[return-value]

    return decorator
