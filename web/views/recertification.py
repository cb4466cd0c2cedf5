"""Re-certification pages: the campaigns, one campaign's grants with the answer forms, and the
evidence exports. Thin: the services decide who may answer, the selectors who sees what."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from recertification import selectors, services
from recertification.forms import AnswerForm, CampaignStartForm
from recertification.models import REVOKED_ELSEWHERE, Campaign, Certification
from reports.recertification import campaign_csv, campaign_pdf


def _error_text(error: ValidationError) -> str:
    return " ".join(str(m) for m in error.messages)


def _may_start(request: HttpRequest) -> bool:
    return has_role(request.user, Role.SECURITY) and can_write(request.user)


def _list(request: HttpRequest, form: CampaignStartForm | None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "recertification/campaign_list.html",
        {
            "campaigns": selectors.campaign_list_for(request.user),
            "form": (form or CampaignStartForm()) if _may_start(request) else None,
        },
        status=status,
    )


@require_GET
@role_required()
def campaign_list(request: HttpRequest) -> HttpResponse:
    return _list(request, None)


@require_POST
@role_required(Role.SECURITY, write=True)
def campaign_start(request: HttpRequest) -> HttpResponse:
    form = CampaignStartForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    vendor = form.cleaned_data["vendor"]
    try:
        campaign = services.campaign_start(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            name=form.cleaned_data["name"],
            deadline=form.cleaned_data["deadline"],
            vendor_id=vendor.pk if vendor else None,
            tier=form.cleaned_data["tier"],
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("recertification:campaigns")
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, error)
        return _list(request, form, status=400)
    messages.success(
        request, _("Campaign started: every grant it took waits for its owner and security.")
    )
    return redirect("recertification:campaign_detail", pk=campaign.pk)


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    campaign = selectors.campaign_for(request.user, pk)
    if campaign is None:
        if Campaign.objects.filter(pk=pk).exists():
            raise PermissionDenied
        raise Http404
    return campaign


@require_GET
@role_required()
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    return render(
        request,
        "recertification/campaign_detail.html",
        {
            "campaign": campaign,
            "items": selectors.campaign_items(campaign, request.user),
            "may_export": selectors.sees_every_campaign(request.user),
            "note_max": services.NOTE_MAX_LENGTH,
        },
    )


def _answer(request: HttpRequest, pk: int, part: str) -> HttpResponse:
    certification = (
        Certification.objects.filter(pk=pk)
        .values("campaign_id", "access_request__vendor__internal_owner_id")
        .first()
    )
    if certification is None:
        raise Http404
    owner_id = certification["access_request__vendor__internal_owner_id"]
    if part == services.OWNER and request.user.pk != owner_id:
        raise PermissionDenied  # the service refuses it too; nothing to parse for anyone else
    campaign_id = certification["campaign_id"]
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose keep or revoke, and say why."))
        return redirect("recertification:campaign_detail", pk=campaign_id)
    try:
        answered = services.certification_answer(
            certification_id=pk,
            actor=request.user,
            part=part,
            decision=form.cleaned_data["decision"],
            note=form.cleaned_data["note"],
            mfa_verified=session_mfa_verified(request),
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        if answered.closed_by == REVOKED_ELSEWHERE:
            messages.info(request, _("This grant was revoked meanwhile: nothing to answer."))
        elif answered.outcome == Certification.Outcome.REVOKED:
            messages.success(request, _("The grant is revoked; its removal is under way."))
        elif answered.outcome == Certification.Outcome.KEPT:
            messages.success(request, _("Both parts said keep: the grant is re-certified."))
        else:
            messages.success(request, _("Answer recorded: the other part is still to answer."))
    return redirect("recertification:campaign_detail", pk=campaign_id)


@require_POST
@role_required(write=True)
def owner_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The vendor's internal owner answers their part (the service refuses anyone else)."""
    return _answer(request, pk, services.OWNER)


@require_POST
@role_required(Role.SECURITY, write=True)
def security_answer(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        return _answer(request, pk, services.SECURITY)
    except PermissionDenied as error:
        # Security without a second factor: said on the page, as the other security writes do.
        messages.error(request, str(error))
        campaign_id = Certification.objects.values_list("campaign_id", flat=True).get(pk=pk)
        return redirect("recertification:campaign_detail", pk=campaign_id)


def _filename(campaign: Campaign, extension: str) -> str:
    return f"recertification-{campaign.pk}-{campaign.started_at:%Y%m%d}.{extension}"


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def campaign_export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    response = HttpResponse(campaign_csv(campaign), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(campaign, "csv")}"'
    return response


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def campaign_export_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    response = HttpResponse(campaign_pdf(campaign), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_filename(campaign, "pdf")}"'
    return response
