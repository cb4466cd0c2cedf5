"""Vendor and review pages. Each view checks permission, parses input, calls one service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from fulfilment import revocation
from reports.access_map import vendor_live_grants
from vendors import selectors, services
from vendors.forms import (
    DETAIL_FORMS,
    TSC_CHOICES,
    ChecklistAnswersForm,
    ContactForm,
    DecisionForm,
    EvidenceForm,
    ReviewReportForm,
    VendorFilterForm,
    VendorForm,
)
from vendors.models import (
    EvidenceFile,
    KeyRecipientChange,
    SubprocessorReview,
    Vendor,
    VendorContact,
)
from verification import cutoff
from verification.truth import last_used_for, truths_for
from web.views.shared import service_errors_on_form

PAGE_SIZE = 25


def _can_edit_vendor(vendor: Vendor, user: Any) -> bool:
    return can_write(user) and (
        user.pk in (vendor.created_by_id, vendor.internal_owner_id) or has_role(user, Role.SECURITY)
    )


@require_GET
@role_required()
def vendor_list(request: HttpRequest) -> HttpResponse:
    filters = VendorFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    vendors = selectors.vendor_list(
        search=params.get("q", ""),
        tier=params.get("tier", ""),
        status=params.get("status", ""),
        review_state=params.get("review_state", ""),
    )
    page = Paginator(vendors, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "vendors/vendor_list.html",
        {
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "state_labels": selectors.ReviewState.LABELS,
            "can_create": can_write(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def vendor_create(request: HttpRequest) -> HttpResponse:
    form = VendorForm(
        request.POST or None, user=request.user, initial={"internal_owner": request.user.pk}
    )
    if request.method == "POST" and form.is_valid():
        try:
            vendor = services.vendor_create(
                actor=request.user,
                data=form.cleaned_data,
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            messages.success(request, _("Vendor %(name)s registered.") % {"name": vendor.name})
            return redirect("vendors:detail", pk=vendor.pk)
    return render(request, "vendors/vendor_form.html", {"form": form, "vendor": None})


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def vendor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    if not _can_edit_vendor(vendor, request.user):
        raise PermissionDenied
    form = VendorForm(request.POST or None, instance=vendor, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "slug"}
        try:
            services.vendor_update(
                vendor_id=vendor.pk,
                actor=request.user,
                data=data,
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            messages.success(request, _("Vendor saved."))
            return redirect("vendors:detail", pk=vendor.pk)
    return render(request, "vendors/vendor_form.html", {"form": form, "vendor": vendor})


@require_GET
@role_required()
def vendor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        vendor = selectors.vendor_detail(pk=pk)
    except Vendor.DoesNotExist as exc:
        raise _not_found() from exc
    reviews = vendor.reviews.select_related("created_by", "submitted_by", "decided_by")

    key_change = services.pending_key_recipient_change(vendor.pk)
    grants = list(vendor_live_grants(vendor.pk))
    # What AWS last said of each grant: its truth label and its roles' last use.
    truths = truths_for(grants)
    used = last_used_for([g.pk for g in grants])
    for grant in grants:
        grant.truth = truths.get(grant.pk)  # type: ignore[attr-defined]
        grant.aws_last_used = used.get(grant.pk)  # type: ignore[attr-defined]

    return render(
        request,
        "vendors/vendor_detail.html",
        {
            "vendor": vendor,
            "contacts": vendor.contacts.all(),
            "reviews": reviews,
            "grants": grants,
            "can_cut_off": has_role(request.user, Role.SECURITY),
            "cut_off_available": cutoff.cut_off_available(),
            "state_label": selectors.ReviewState.LABELS[vendor.review_state],  # type: ignore[attr-defined]
            "can_edit": _can_edit_vendor(vendor, request.user),
            "can_review": can_write(request.user) and vendor.status == Vendor.Status.ACTIVE,
            "can_offboard": has_role(request.user, Role.SECURITY)
            and vendor.status == Vendor.Status.ACTIVE,
            "key_change": key_change,
            "can_decide_key_change": key_change is not None
            and services.key_recipient_change_may_decide(key_change, request.user),
        },
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def key_recipient_decide(request: HttpRequest, pk: int, change_id: int) -> HttpResponse:
    """Security confirms or rejects a pending change of who receives the vendor's keys."""
    get_object_or_404(KeyRecipientChange, pk=change_id, vendor_id=pk)
    decision = request.POST.get("decision", "")
    if decision not in ("confirm", "reject"):
        messages.error(request, _("Choose confirm or reject."))
        return redirect("vendors:detail", pk=pk)
    try:
        services.key_recipient_change_decide(
            change_id=change_id,
            actor=request.user,
            confirm=decision == "confirm",
            mfa_verified=session_mfa_verified(request),
            comment=request.POST.get("comment", ""),
        )
    except PermissionDenied as refusal:  # no second factor, or their own change: say which
        messages.error(request, str(refusal) or _("You cannot decide this change."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Change confirmed: held key links go to the new recipient.")
            if decision == "confirm"
            else _("Change rejected: held key links go to the current recipient."),
        )
    return redirect("vendors:detail", pk=pk)


def _not_found() -> Http404:
    return Http404(_("Not found."))


@require_POST
@role_required(Role.SECURITY, write=True)
def vendor_cut_off(request: HttpRequest, pk: int) -> HttpResponse:
    """Security stops the vendor's access in AWS now; the result lists every account."""
    vendor = get_object_or_404(Vendor, pk=pk)
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm the cut-off."))
        return redirect("vendors:detail", pk=pk)
    try:
        outcome = cutoff.vendor_cut_off(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            vendor_id=pk,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("vendors:detail", pk=pk)
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect("vendors:detail", pk=pk)
    return render(request, "vendors/cut_off_result.html", {"vendor": vendor, "outcome": outcome})


@require_POST
@role_required(Role.SECURITY, write=True)
def vendor_offboard(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        revocation.vendor_offboard(
            vendor_id=pk, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("Vendor offboarded. Its live grants are revoked; pull requests remove them.")
        )
    return redirect("vendors:detail", pk=pk)


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def contact_edit(request: HttpRequest, pk: int, contact_id: int | None = None) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    if not _can_edit_vendor(vendor, request.user):
        raise PermissionDenied
    contact = get_object_or_404(VendorContact, pk=contact_id, vendor=vendor) if contact_id else None
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.contact_save(
                vendor_id=vendor.pk,
                actor=request.user,
                data=form.cleaned_data,
                contact_id=contact_id,
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            change = services.pending_key_recipient_change(vendor.pk)
            if change is not None and change.contact_id == saved.pk:
                messages.warning(
                    request,
                    _(
                        "Contact saved. Who receives the access keys changes once the "
                        "security team confirms it; key links wait until then."
                    ),
                )
            else:
                messages.success(request, _("Contact saved."))
            return redirect("vendors:detail", pk=vendor.pk)
    return render(
        request, "vendors/contact_form.html", {"form": form, "vendor": vendor, "contact": contact}
    )


@require_POST
@role_required(write=True)
def contact_delete(request: HttpRequest, pk: int, contact_id: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    if not _can_edit_vendor(vendor, request.user):
        raise PermissionDenied
    get_object_or_404(VendorContact, pk=contact_id, vendor=vendor)
    try:
        services.contact_delete(
            contact_id=contact_id, actor=request.user, mfa_verified=session_mfa_verified(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Contact removed."))
    return redirect("vendors:detail", pk=vendor.pk)


# --- Reviews --------------------------------------------------------------------------------------


@require_POST
@role_required(write=True)
def review_start(request: HttpRequest, pk: int) -> HttpResponse:
    vendor = get_object_or_404(Vendor, pk=pk)
    try:
        review = services.review_start(vendor_id=vendor.pk, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("vendors:detail", pk=vendor.pk)
    return redirect("vendors:review_edit", pk=review.pk)


def _review_or_404(pk: int, user: Any) -> SubprocessorReview:
    """The review, if `user` may read it: its content (findings, exceptions, answers) is
    limited like its evidence files, with the same 403."""
    try:
        review = selectors.review_detail(pk=pk)
    except SubprocessorReview.DoesNotExist as exc:
        raise _not_found() from exc
    if not services.review_can_read(review, user):
        raise PermissionDenied
    return review


def _editable_review(pk: int, user: Any) -> SubprocessorReview:
    """The review, if `user` may change it: refused before any input is read."""
    review = _review_or_404(pk, user)
    if review.is_editable and not services.review_can_edit(review, user):
        raise PermissionDenied
    return review


TSC_LABELS = dict(TSC_CHOICES)


def _review_context(
    request: HttpRequest, review: SubprocessorReview, **extra: Any
) -> dict[str, Any]:
    answers = list(selectors.review_answers(review))
    sections = selectors.checklist_sections((a, a, bool(a.answer)) for a in answers)
    return {
        "review": review,
        "vendor": review.vendor,
        "answers": answers,
        "checklist_sections": sections,
        "checklist_answered": sum(1 for a in answers if a.answer),
        "trust_services_labels": [
            str(TSC_LABELS.get(value, value)) for value in review.trust_services_categories or []
        ],
        "exceptions": review.exceptions.all(),
        "cuecs": review.cuecs.all(),
        "subservices": review.subservice_organizations.all(),
        "general_evidence": review.evidence.filter(answer__isnull=True),
        "can_edit": services.review_can_edit(review, request.user) and can_write(request.user),
        **extra,
    }


def _form_progress(answers_form: ChecklistAnswersForm) -> dict[str, Any]:
    """The checklist's sections and count as the form holds them (the review's own context
    counts the saved answers; a form sent back with errors shows the reviewer's choices)."""
    sections = answers_form.sections()
    return {
        "checklist_sections": sections,
        "checklist_answered": sum(section.answered for section in sections),
    }


@require_GET
@role_required()
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review_or_404(pk, request.user)
    can_decide = review.status == review.Status.SUBMITTED and services.review_may_decide(
        review, request.user
    )
    context = _review_context(
        request, review, can_decide=can_decide, decision_form=DecisionForm() if can_decide else None
    )
    context["blockers"] = [a for a in context["answers"] if a.is_open_blocker]
    return render(request, "vendors/review_detail.html", context)


@require_http_methods(["GET", "POST"])
@role_required(write=True)
def review_edit(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review_or_404(pk, request.user)
    if not services.review_can_edit(review, request.user):
        if not review.is_editable:
            return redirect("vendors:review_detail", pk=review.pk)
        raise PermissionDenied
    answers = list(selectors.review_answers(review))
    data = request.POST if request.method == "POST" else None
    report_form = ReviewReportForm(data, instance=review, prefix="report")
    answers_form = ChecklistAnswersForm(data, answers=answers, prefix="checklist")
    if request.method == "POST" and report_form.is_valid() and answers_form.is_valid():
        try:
            services.review_update(
                review_id=review.pk,
                actor=request.user,
                report=report_form.cleaned_data,
                answers=answers_form.cleaned_answers(),
                mfa_verified=session_mfa_verified(request),
            )
            if "submit" in request.POST:
                services.review_submit(
                    review_id=review.pk,
                    actor=request.user,
                    mfa_verified=session_mfa_verified(request),
                )
                messages.success(request, _("Review submitted to the security team."))
                return redirect("vendors:review_detail", pk=review.pk)
        except ValidationError as error:
            service_errors_on_form(report_form, _only(error, report_form.fields))
            service_errors_on_form(
                answers_form, _only(error, answers_form.fields, prefix="answer_")
            )
            if "exceptions" in getattr(error, "error_dict", {}):
                report_form.add_error(None, error.error_dict["exceptions"])
            messages.error(
                request,
                _("The review is saved but not complete: see the messages next to the fields."),
            )
        else:
            messages.success(request, _("Review saved."))
            return redirect("vendors:review_edit", pk=review.pk)
    context = _review_context(
        request,
        review,
        report_form=report_form,
        answers_form=answers_form,
        evidence_form=EvidenceForm(answers=answers),
        **_form_progress(answers_form),
        detail_forms={kind: form_class() for kind, form_class in DETAIL_FORMS.items()},
    )
    return render(request, "vendors/review_form.html", context)


def _only(error: ValidationError, fields: Any, prefix: str = "") -> ValidationError:
    """The part of a by-field ValidationError that concerns `fields`."""
    if not hasattr(error, "error_dict"):
        return error if not prefix else ValidationError({})
    return ValidationError(
        {
            f: e
            for f, e in error.error_dict.items()
            if f in fields and (not prefix or f.startswith(prefix))
        }
    )


@require_POST
@role_required(write=True)
def review_detail_add(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    if kind not in DETAIL_FORMS:
        raise _not_found()
    review = _editable_review(pk, request.user)
    form = DETAIL_FORMS[kind](request.POST)
    if form.is_valid():
        try:
            services.review_add_detail(
                review_id=review.pk,
                actor=request.user,
                kind=kind,
                data=form.cleaned_data,
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Added."))
    else:
        messages.error(
            request,
            " ".join(
                f"{form.fields[f].label if f in form.fields else ''}: "
                f"{' '.join(str(m) for m in e)}".strip(": ")
                for f, e in form.errors.items()
            ),
        )
    return redirect(f"{review_edit_url(review.pk)}#{kind}s")


def review_edit_url(pk: int) -> str:
    from django.urls import reverse

    return reverse("vendors:review_edit", kwargs={"pk": pk})


@require_POST
@role_required(write=True)
def review_detail_remove(request: HttpRequest, pk: int, kind: str, detail_id: int) -> HttpResponse:
    if kind not in DETAIL_FORMS:
        raise _not_found()
    _editable_review(pk, request.user)
    try:
        services.review_remove_detail(
            review_id=pk,
            actor=request.user,
            kind=kind,
            detail_id=detail_id,
            mfa_verified=session_mfa_verified(request),
        )
    except ObjectDoesNotExist as exc:  # not this review's, or removed already
        raise _not_found() from exc
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(f"{review_edit_url(pk)}#{kind}s")


@require_POST
@role_required(write=True)
def evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    review = _editable_review(pk, request.user)
    form = EvidenceForm(request.POST, request.FILES, answers=list(review.answers.all()))
    if form.is_valid():
        try:
            evidence = services.evidence_add(
                review_id=review.pk,
                actor=request.user,
                upload=form.cleaned_data["file"],
                answer_id=form.cleaned_data["answer"],
                mfa_verified=session_mfa_verified(request),
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("Uploaded %(name)s (SHA-256 %(sha)s…).")
                % {"name": evidence.original_name, "sha": evidence.sha256[:12]},
            )
    else:
        messages.error(request, " ".join(str(m) for e in form.errors.values() for m in e))
    return redirect(f"{review_edit_url(review.pk)}#evidence")


@require_GET
@role_required()
def evidence_download(request: HttpRequest, pk: int) -> FileResponse:
    evidence = get_object_or_404(
        EvidenceFile.objects.select_related("review", "review__vendor"), pk=pk
    )
    if not services.evidence_can_read(evidence, request.user):
        raise PermissionDenied
    response = FileResponse(
        evidence.file.open("rb"),
        as_attachment=True,
        filename=evidence.original_name,
        content_type=evidence.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@role_required(Role.SECURITY, write=True)
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review_or_404(pk, request.user)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            services.review_decide(
                review_id=review.pk,
                actor=request.user,
                mfa_verified=session_mfa_verified(request),
                **form.cleaned_data,
            )
        except ValidationError as error:
            service_errors_on_form(form, error)
        else:
            messages.success(request, _("Decision recorded."))
            return redirect("vendors:review_detail", pk=review.pk)
    context = _review_context(request, review, can_decide=True, decision_form=form)
    context["blockers"] = [a for a in context["answers"] if a.is_open_blocker]
    return render(request, "vendors/review_detail.html", context, status=400)
