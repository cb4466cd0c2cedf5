"""Reads of the request workflow: who may see a request, and security's dashboard."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from accessportal.roles import Role, has_role
from approvals.models import DOCUMENT_FIELDS, AccessRequest, ExtensionApproval
from vendors.models import Vendor


def request_visible_to(pk: int, user: Any) -> AccessRequest:
    """A request the user may see: their own, or any for security and auditors (the pages
    and the API alike)."""
    try:
        access_request = AccessRequest.objects.select_related(
            "vendor", "requester", "rules_version"
        ).get(pk=pk)
    except AccessRequest.DoesNotExist as exc:
        raise Http404(_("No such request.")) from exc
    if access_request.requester_id != user.pk and not has_role(user, Role.SECURITY, Role.AUDITORS):
        raise PermissionDenied
    return access_request


def requests_visible_to(user: Any) -> Any:
    """The requests the user may see (as `request_visible_to`, for lists)."""
    if has_role(user, Role.SECURITY, Role.AUDITORS):
        return AccessRequest.objects.all()
    return AccessRequest.objects.filter(requester=user.pk)


def extensions_awaiting_decision(viewer: Any, limit: int = 10) -> list[AccessRequest]:
    """Extension asks still short of their quorum, oldest end date first, each with
    `extension_approval_count` (this ask's approvals); the viewer's own requests and those
    the viewer already approved for this ask are left out (nothing for them to do)."""
    this_ask = ExtensionApproval.objects.filter(
        access_request=OuterRef("pk"), extension_round=OuterRef("extension_round")
    )
    approved_by_viewer = this_ask.filter(approver=viewer.pk)
    count = (
        this_ask.values("access_request").annotate(n=Count("approver", distinct=True)).values("n")
    )
    return list(
        AccessRequest.objects.filter(extension_until__isnull=False)
        .exclude(requester=viewer.pk)
        .exclude(Exists(approved_by_viewer))
        .defer(*DOCUMENT_FIELDS)
        .select_related("vendor", "requester")
        .annotate(extension_approval_count=Coalesce(Subquery(count), 0))
        .order_by("expires_on", "pk")[:limit]
    )


def request_search(
    *, search: str = "", status: str = "", strategy: str = "", vendor_id: int | None = None
) -> Any:
    """Every request matching the filters, newest first: security's and auditors' list.

    The search matches the request's number ("42" or "#42"), its vendor's name, its
    requester's username or its role name. The caller narrows the columns it shows.
    """
    requests = AccessRequest.objects.all()
    if status:
        requests = requests.filter(status=status)
    if strategy:
        requests = requests.filter(strategy=strategy)
    if vendor_id is not None:
        requests = requests.filter(vendor_id=vendor_id)
    text = search.strip()
    if text:
        match = (
            Q(vendor__name__icontains=text)
            | Q(requester__username__icontains=text)
            | Q(role_name__icontains=text)
        )
        number = text.removeprefix("#").strip()
        if number.isdigit() and len(number) < 10:
            match |= Q(pk=int(number))
        requests = requests.filter(match)
    return requests.order_by("-created_at", "-pk")


def request_vendor_choices() -> list[tuple[int, str]]:
    """(id, name) of the vendors that have at least one request, by name: the list's filter."""
    return list(
        Vendor.objects.filter(Exists(AccessRequest.objects.filter(vendor=OuterRef("pk"))))
        .order_by("name")
        .values_list("pk", "name")
    )


def requests_awaiting_decision(user: Any) -> Any:
    """Security's dashboard: the submitted requests this member may still decide (not their
    own, not one they decided), oldest first, with `approval_count` (approvals so far) so
    the list says "1 of 2" as the admin's decision box does."""
    return (
        AccessRequest.objects.defer(*DOCUMENT_FIELDS)
        .filter(status=AccessRequest.Status.SUBMITTED)
        .exclude(requester=user.pk)
        .exclude(approvals__approver=user.pk)
        .annotate(approval_count=Count("approvals", filter=Q(approvals__decision="approve")))
        .select_related("vendor", "requester")
        .order_by("submitted_at")
    )
