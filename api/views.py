"""The REST API's endpoints: thin, like the pages. Each reads through the same selectors and
changes through the same services as the pages, with the token's owner as the actor and, for
`mfa_verified`, what the token may stand for (`tokens.token_mfa_verified`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accessportal.roles import Role, user_roles
from api import serializers as s
from api import tokens
from api.errors import from_django
from api.models import ApiToken
from api.pagination import BySequence
from approvals import decisions
from approvals import requests as request_services
from approvals.forms import AccessRequestForm
from approvals.models import AccessRequest, Approval
from approvals.selectors import request_visible_to, requests_visible_to
from audit.models import AuditEvent
from fulfilment.models import PullRequest
from inventory.models import AwsAccount
from keys.models import AccessKey
from reports.exports import TooManyExports, export_request
from reports.models import ReportExport
from reports.subprocessors import report_params
from vendors import services as vendor_services
from vendors.models import SubprocessorReview, Vendor
from verification.models import ExternalAccessFinding

READERS = (Role.SECURITY, Role.AUDITORS)


class Audited:
    """Every call made with a token leaves an audit row (`api.token_use`), whatever its answer."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        token = getattr(request, "auth", None)
        if isinstance(token, ApiToken):
            tokens.token_use_record(
                token, method=request.method or "", path=request.path, status=response.status_code
            )
        return response


def _mfa(request: Request) -> bool:
    assert isinstance(request.auth, ApiToken)  # noqa: S101  ScopePermission let no other in
    return tokens.token_mfa_verified(request.auth)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _service(call: Any) -> Any:
    """Runs a service; its Django refusals become the API's error shape (errors.py)."""
    try:
        return call()
    except Exception as exc:
        translated = from_django(exc)
        if translated is None:
            raise
        raise translated from None


class ReadOnlyEndpoint(Audited, viewsets.ReadOnlyModelViewSet):  # type: ignore[misc]
    """A list (cursor-paged) and a detail, of what the caller may see."""

    roles: tuple[Role, ...] = ()


@extend_schema(responses=s.MeSerializer)
class MeView(Audited, APIView):
    """Who the token acts for, its scope, and whether it may approve right now."""

    def get(self, request: Request) -> Response:
        token = request.auth
        assert isinstance(token, ApiToken)  # noqa: S101
        return Response(
            {
                "username": request.user.get_username(),
                "roles": sorted(user_roles(request.user)),
                "token": {
                    "key_id": token.key_id,
                    "scope": token.scope,
                    "expires_at": token.expires_at.isoformat(),
                },
                "may_approve": tokens.token_mfa_verified(token),
            }
        )


@extend_schema(exclude=True)
class NoRouteView(Audited, APIView):
    """Any /api/v1/ path no route matches (an id the routes' patterns refuse, such as `1.5`):
    a 404 in the API's error shape, after the token is checked like any call's, rather than
    Django's HTML page that no client of a JSON API can read."""

    def _no_route(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise exceptions.NotFound("No such route.")

    get = post = put = patch = delete = _no_route


class TokenViewSet(ReadOnlyEndpoint):
    """The caller's tokens (security: everyone's). Tokens are created in the portal, where the
    secret is shown once; here they are listed and revoked."""

    serializer_class = s.TokenSerializer
    # Any token may revoke its owner's tokens, itself included (a leaked read token too).
    scopes = {"revoke": ApiToken.Scope.READ}

    def get_queryset(self) -> QuerySet[ApiToken]:
        return tokens.tokens_visible_to(self.request.user).order_by("-id")

    @extend_schema(request=None, responses=s.TokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        token = self.get_object()
        revoked = _service(
            lambda: tokens.token_revoke(
                token_id=token.pk, actor=request.user, mfa_verified=_mfa(request)
            )
        )
        return Response(s.TokenSerializer(revoked).data)


class VendorViewSet(ReadOnlyEndpoint):
    serializer_class = s.VendorSerializer
    queryset = Vendor.objects.all()


class ReviewViewSet(ReadOnlyEndpoint):
    """SOC 2 reviews: security and auditors read all, others those they write or own (as on
    the pages); security decides a submitted one."""

    serializer_class = s.ReviewSerializer
    scopes = {"decide": ApiToken.Scope.APPROVE}

    def get_queryset(self) -> QuerySet[SubprocessorReview]:
        return vendor_services.reviews_visible_to(self.request.user).select_related("vendor")

    @extend_schema(request=s.ReviewDecisionSerializer, responses=s.ReviewSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str) -> Response:
        review = self.get_object()
        data = _valid(s.ReviewDecisionSerializer, request)
        decided = _service(
            lambda: vendor_services.review_decide(
                review_id=review.pk,
                actor=request.user,
                mfa_verified=_mfa(request),
                decision=data["decision"],
                comment=data["comment"],
                conditions=data["conditions"],
            )
        )
        return Response(s.ReviewSerializer(decided).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=AccessRequest.Status.values),
            OpenApiParameter("vendor", int),
        ]
    )
)
class AccessRequestViewSet(Audited, viewsets.GenericViewSet):  # type: ignore[misc]
    """Access requests: the caller's own (security and auditors: all), filed, changed while a
    draft, submitted, withdrawn, extended and decided through the pages' services."""

    serializer_class = s.AccessRequestSerializer
    scopes = {
        "approve": ApiToken.Scope.APPROVE,
        "reject": ApiToken.Scope.APPROVE,
        "extension": ApiToken.Scope.APPROVE,
    }

    def get_queryset(self) -> QuerySet[AccessRequest]:
        requests = requests_visible_to(self.request.user).select_related("vendor", "requester")
        status_ = self.request.query_params.get("status")
        if status_:
            if status_ not in AccessRequest.Status.values:
                raise exceptions.ValidationError({"status": ["Not a request status."]})
            requests = requests.filter(status=status_)
        vendor = self.request.query_params.get("vendor")
        if vendor:
            if not vendor.isdigit():
                raise exceptions.ValidationError({"vendor": ["A vendor id (a number)."]})
            requests = requests.filter(vendor=int(vendor))
        return requests.prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("approver")),
            Prefetch("pull_requests", queryset=PullRequest.objects.order_by("id")),
        )

    def _shown(self, pk: int, code: int = status.HTTP_200_OK) -> Response:
        access_request = self.get_queryset().filter(pk=pk).first()
        assert access_request is not None  # noqa: S101  visible: just read or changed by the caller
        return Response(s.AccessRequestSerializer(access_request).data, status=code)

    def _visible(self, pk: str) -> AccessRequest:
        if not pk.isdigit():
            raise exceptions.NotFound("No such request.")
        return _service(lambda: request_visible_to(int(pk), self.request.user))

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.AccessRequestSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self._shown(self._visible(pk).pk)

    def _save(
        self, request: Request, base: dict[str, Any] | None, request_id: int | None
    ) -> AccessRequest:
        given = s.AccessRequestInputSerializer(data=request.data, partial=base is not None)
        given.is_valid(raise_exception=True)
        form = AccessRequestForm(s.request_form_data(dict(given.validated_data), base))
        if not form.is_valid():
            raise exceptions.ValidationError(s.form_errors(form))
        return _service(
            lambda: request_services.request_save(
                actor=request.user, data=form.cleaned_data, request_id=request_id
            )
        )

    @extend_schema(
        request=s.AccessRequestInputSerializer, responses={201: s.AccessRequestSerializer}
    )
    def create(self, request: Request) -> Response:
        saved = self._save(request, None, None)
        return self._shown(saved.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.AccessRequestInputSerializer, responses=s.AccessRequestSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Changes a draft (the requester's only): the fields given, the others kept."""
        access_request = self._visible(pk)
        if access_request.requester_id != request.user.pk:
            # Before the body is read, as on the edit page: who may is the first answer.
            raise exceptions.PermissionDenied("Only the requester can change a request.")
        base = AccessRequestForm.initial_from(access_request)
        base["expires_on"] = base["expires_on"].isoformat() if base["expires_on"] else ""
        saved = self._save(request, base, access_request.pk)
        return self._shown(saved.pk)

    def _act(
        self,
        pk: str,
        body: type[serializers.Serializer] | None,
        call: Callable[[AccessRequest, dict[str, Any]], Any],
    ) -> Response:
        """One action on a visible request: its body parsed, then the service, then the
        request as it now stands."""
        access_request = self._visible(pk)
        data = _valid(body, self.request) if body else {}
        _service(lambda: call(access_request, data))
        return self._shown(access_request.pk)

    @extend_schema(request=None, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        return self._act(
            pk,
            None,
            lambda r, _data: request_services.request_submit(request_id=r.pk, actor=request.user),
        )

    @extend_schema(request=None, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        return self._act(
            pk,
            None,
            lambda r, _data: request_services.request_withdraw(request_id=r.pk, actor=request.user),
        )

    @extend_schema(request=s.ExtensionAskSerializer, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: str) -> Response:
        """The requester asks for a later end date (it needs the grant's own approvals)."""
        return self._act(
            pk,
            s.ExtensionAskSerializer,
            lambda r, data: decisions.request_extension_ask(
                request_id=r.pk, actor=request.user, until=data["until"], reason=data["reason"]
            ),
        )

    @extend_schema(request=s.DecisionSerializer, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """One approval of a security member: the quorum, the approver rules, no self-approval
        and the second factor hold as on the pages."""
        return self._act(
            pk,
            s.DecisionSerializer,
            lambda r, data: decisions.request_approve(
                request_id=r.pk,
                approver=request.user,
                mfa_verified=_mfa(request),
                comment=data["comment"],
            ),
        )

    @extend_schema(request=s.DecisionSerializer, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._act(
            pk,
            s.DecisionSerializer,
            lambda r, data: decisions.request_reject(
                request_id=r.pk,
                approver=request.user,
                mfa_verified=_mfa(request),
                comment=data["comment"],
            ),
        )

    @extend_schema(request=s.ExtensionDecisionSerializer, responses=s.AccessRequestSerializer)
    @action(detail=True, methods=["post"])
    def extension(self, request: Request, pk: str) -> Response:
        """Security approves or refuses the pending extension ask."""
        return self._act(
            pk,
            s.ExtensionDecisionSerializer,
            lambda r, data: decisions.request_extension_decide(
                request_id=r.pk,
                approver=request.user,
                approve=data["approve"],
                mfa_verified=_mfa(request),
                comment=data["comment"],
            ),
        )


class ApprovalViewSet(ReadOnlyEndpoint):
    """Approvals and rejections of the requests the caller may see."""

    serializer_class = s.ApprovalSerializer

    def get_queryset(self) -> QuerySet[Approval]:
        visible = requests_visible_to(self.request.user)
        return Approval.objects.filter(access_request__in=visible).select_related("approver")


class PullRequestViewSet(ReadOnlyEndpoint):
    """Every grant and revocation pull request: security and auditors (a requester sees their
    own request's in the request)."""

    serializer_class = s.PullRequestSerializer
    queryset = PullRequest.objects.all()
    roles = READERS


class AccessKeyViewSet(ReadOnlyEndpoint):
    """IAM access keys of the requests the caller may see: metadata only."""

    serializer_class = s.AccessKeySerializer

    def get_queryset(self) -> QuerySet[AccessKey]:
        return AccessKey.objects.filter(access_request__in=requests_visible_to(self.request.user))


class AwsAccountViewSet(ReadOnlyEndpoint):
    serializer_class = s.AwsAccountSerializer
    queryset = AwsAccount.objects.all()


class FindingViewSet(ReadOnlyEndpoint):
    """External-access findings: who outside the organization AWS lets in. Security only."""

    serializer_class = s.FindingSerializer
    queryset = ExternalAccessFinding.objects.all()
    roles = (Role.SECURITY,)


class AuditEventViewSet(ReadOnlyEndpoint):
    """The audit log, newest first, paged by sequence (security and auditors)."""

    serializer_class = s.AuditEventSerializer
    queryset = AuditEvent.objects.all()
    roles = READERS
    lookup_field = "sequence"
    pagination_class = BySequence

    def get_queryset(self) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.all()
        after = self.request.query_params.get("after")
        if after:
            if not after.isdigit():
                raise exceptions.ValidationError({"after": ["An audit sequence (a number)."]})
            events = events.filter(sequence__gt=int(after))
        return events

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only events after this sequence.")]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class ExportViewSet(Audited, viewsets.GenericViewSet):  # type: ignore[misc]
    """PDF binders of the subprocessor report: started, polled and downloaded by whoever asked
    (security and auditors), like the pages' binders."""

    serializer_class = s.ReportExportSerializer
    roles = READERS
    # Asking for a binder reads: auditors may, with a read token.
    scopes = {"create": ApiToken.Scope.READ}

    def get_queryset(self) -> QuerySet[ReportExport]:
        return ReportExport.objects.filter(requested_by=self.request.user.pk).order_by(
            "-created_at"
        )

    @extend_schema(request=s.ExportInputSerializer, responses={202: s.ReportExportSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(s.ExportInputSerializer, request)
        try:
            params = report_params(
                as_of=data["as_of"],
                period_start=data["period_start"],
                tier=data["tier"],
                status=data["vendor_status"],
            )
        except ValueError as error:
            raise exceptions.ValidationError({"period_start": [str(error)]}) from None
        try:
            export = export_request(user=request.user, params=params)
        except TooManyExports as refused:
            raise exceptions.Throttled(detail=str(refused)) from None
        return Response(s.ReportExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(s.ReportExportSerializer(self._own(pk)).data)

    def _own(self, pk: str) -> ReportExport:
        export = self.get_queryset().filter(pk=pk).first() if _is_uuid(pk) else None
        if export is None:
            raise exceptions.NotFound("No such export.")
        return export

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> Any:
        export = self._own(pk)
        if export.status != ReportExport.Status.DONE or not export.file:
            raise exceptions.NotFound("This binder is not ready.")
        response = FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=export.filename,
            content_type="application/pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
