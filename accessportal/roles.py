"""The portal's roles: Django groups created by a data migration (DESIGN.md section 2).

Every signed-in user is a requester; `security` approves and administers; `auditors` read and
export. Views ask `has_role`, which reads the user's groups once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _


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


def second_factor_needed() -> str:
    """What a refused security write says when the session has no second factor."""
    return _(
        "Sign in with your second factor (authenticator app) first: the security team's "
        "changes need it."
    )


def require_verified_security(
    user: AbstractBaseUser | AnonymousUser, *, mfa_verified: bool, refusal: str = ""
) -> None:
    """The one gate of every security write (SOC2.md: security acts only with a second factor).

    Raises PermissionDenied unless `user` is a security member who may write and `mfa_verified`
    says this session's sign-in included the MFA step (`accessportal.mfa.session_mfa_verified`).
    Services call it themselves, so the rule holds whatever the entry point: a page, the admin,
    a crafted POST or a shell. `refusal` says why a non-member is refused.
    """
    if not has_role(user, Role.SECURITY) or not can_write(user):
        raise PermissionDenied(refusal or _("Only the security team may do this."))
    if not mfa_verified:
        raise PermissionDenied(second_factor_needed())


def require_owner_or_verified_security(
    user: AbstractBaseUser | AnonymousUser,
    *,
    owner_ids: Iterable[int | None],
    mfa_verified: bool,
    refusal: str = "",
) -> None:
    """For what its owners may change and security may change for them: an owner passes, anyone
    else must pass `require_verified_security` (security acting with the security role's right,
    so with a second factor)."""
    if user.pk is not None and user.pk in set(owner_ids) and can_write(user):
        return
    require_verified_security(user, mfa_verified=mfa_verified, refusal=refusal)


View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def role_required(*roles: Role, write: bool = False) -> Callable[[View], View]:
    """View decorator: 403 unless the signed-in user holds one of `roles` (any role when none
    is named) and, for `write=True`, may change things (see `can_write`).

    Anonymous users are sent to the login page by `login_required`, applied here too.
    The rule is kept on the view (`portal_allows`, copied by the decorators wrapped around
    it), so a page asks `may_open` before showing a link to it rather than repeating the rule.
    """
    from django.contrib.auth.decorators import login_required

    def allows(user: AbstractBaseUser | AnonymousUser) -> bool:
        if roles and not has_role(user, *roles):
            return False
        return not write or can_write(user)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not allows(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.portal_allows = allows  # type: ignore[attr-defined]
        return login_required(wrapper)  # type: ignore[return-value]

    return decorator


def may_open(user: AbstractBaseUser | AnonymousUser, url: str) -> bool:
    """Whether `user` may open the portal page at `url`, by the `role_required` rule of the view
    that serves it, so a link is shown only to those the page lets in. An address outside the
    portal (a GitHub pull request) or a view without that rule is not the portal's to refuse.
    """
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.urls import Resolver404, resolve

    parts = urlsplit(url)
    if parts.netloc and not url.startswith(settings.PORTAL_BASE_URL.rstrip("/") + "/"):
        return True
    try:
        match = resolve(parts.path)
    except Resolver404:
        return True
    rule: Callable[[Any], bool] | None = getattr(match.func, "portal_allows", None)
    return rule is None or rule(user)
