"""What a token's scope lets a call do, checked before the view runs.

Each view names the scope an action needs (`ScopedView.scopes`; reads need `read`, anything
else `request` unless named). Then the owner's roles, now: an auditor's token changes nothing
even if the auditor was once a writer, and approving needs the security role. The services
check the rest (quorum, self-approval, the second factor), as they do for the pages.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import permissions
from rest_framework.request import Request

from accessportal.roles import Role, can_write, has_role, user_roles
from api.models import ApiToken
from api.tokens import scope_allows


def needed_scope(request: Request, view: Any) -> str:
    action = getattr(view, "action", None)
    named = getattr(view, "scopes", {}).get(action)
    if named:
        return str(named)
    return (
        ApiToken.Scope.READ
        if request.method in permissions.SAFE_METHODS
        else ApiToken.Scope.REQUEST
    )


class ScopePermission(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken) or not user_roles(request.user):
            return False
        needed = needed_scope(request, view)
        if not scope_allows(token.scope, needed):
            self.message = _(
                "This token's scope (%(scope)s) does not allow this; it needs %(needed)s."
            ) % {
                "scope": token.scope,
                "needed": needed,
            }
            return False
        if needed != ApiToken.Scope.READ and not can_write(request.user):
            self.message = _("Auditors read and export; they change nothing.")
            return False
        if needed == ApiToken.Scope.APPROVE and not has_role(request.user, Role.SECURITY):
            self.message = _("Only the security team decides.")
            return False
        roles = getattr(view, "roles", None)
        if roles and not has_role(request.user, *roles):
            self.message = _("Your roles do not allow this.")
            return False
        return True
