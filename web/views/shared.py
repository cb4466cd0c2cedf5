"""What several pages share: the request a user may see, and a service's refusal shown on
its form."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from accessportal.roles import Role, has_role
from approvals.models import AccessRequest


def request_visible_to(pk: int, user: Any) -> AccessRequest:
    """A request the user may see: their own, or any for security and auditors."""
    try:
        access_request = AccessRequest.objects.select_related(
            "vendor", "requester", "rules_version"
        ).get(pk=pk)
    except AccessRequest.DoesNotExist as exc:
        raise Http404(_("No such request.")) from exc
    if access_request.requester_id != user.pk and not has_role(user, Role.SECURITY, Role.AUDITORS):
        raise PermissionDenied
    return access_request


def service_errors_on_form(form: Any, error: ValidationError) -> None:
    """Puts a service's ValidationError next to the matching fields (or on top)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
