"""The approval rules' pages: the rules in force, a proposed change and its votes, the history,
and the form that proposes a change (approvals/rules.py owns every rule of it)."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accessportal.mfa import session_mfa_verified
from accessportal.roles import Role, can_write, has_role, role_required
from approvals import rules
from approvals.forms import BaseRuleFormSet, RuleChangeForm, RuleFormSet, rule_form_choices
from approvals.models import ApprovalRuleSet
from web.views.shared import service_errors_on_form

RuleSetStatus = ApprovalRuleSet.Status


def _rows(rule_set: ApprovalRuleSet) -> list[rules.Rule]:
    return list(rules.rules_of(rule_set))


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def rule_list(request: HttpRequest) -> HttpResponse:
    in_force = rules.active_rule_set()
    versions = list(ApprovalRuleSet.objects.select_related("proposed_by").order_by("-version"))
    proposal = next((v for v in versions if v.status == RuleSetStatus.PROPOSED), None)
    context: dict[str, Any] = {
        "in_force": in_force,
        "rules": _rows(in_force),
        "versions": versions,
        "proposal": proposal,
        "can_propose": has_role(request.user, Role.SECURITY)
        and can_write(request.user)
        and proposal is None,
        "mfa_verified": session_mfa_verified(request),
        "needed": settings.PORTAL_RULE_CHANGE_APPROVALS,
    }
    if proposal is not None:
        votes = list(proposal.votes.select_related("voter"))
        may_vote = rules.may_vote(request.user, proposal)
        context.update(
            proposal_rules=_rows(proposal),
            changes=rules.rule_set_diff(_rows(in_force), _rows(proposal)),
            votes=votes,
            approvals=sum(1 for v in votes if v.decision == v.Decision.APPROVE),
            can_vote=has_role(request.user, Role.SECURITY)
            and can_write(request.user)
            and may_vote.allowed,
            vote_refusal=may_vote.reason,
            can_withdraw=proposal.proposed_by_id == request.user.pk,
        )
    return render(request, "approvals/rules.html", context)


@require_http_methods(["GET", "POST"])
@role_required(Role.SECURITY, write=True)
def rule_propose(request: HttpRequest) -> HttpResponse:
    in_force = rules.active_rule_set()
    choices = rule_form_choices()
    initial = [r.as_dict() for r in rules.rules_of(in_force)]
    formset = RuleFormSet(
        request.POST or None,
        initial=initial,
        prefix="rules",
        form_kwargs={"choices": choices},
    )
    reason_form = RuleChangeForm(request.POST or None)
    if request.method == "POST" and formset.is_valid() and reason_form.is_valid():
        try:
            proposal = rules.rules_propose(
                actor=request.user,
                mfa_verified=session_mfa_verified(request),
                rules=cast(BaseRuleFormSet, formset).rules(),
                reason=reason_form.cleaned_data["reason"],
            )
        except PermissionDenied as error:
            # Who may propose does not depend on the form: say why on the rules page.
            messages.error(request, str(error))
            return redirect("approvals:rules")
        except ValidationError as error:
            service_errors_on_form(reason_form, error)
        else:
            messages.success(
                request,
                _("Version %(v)s proposed: two other members of the security team decide it.")
                % {"v": proposal.version},
            )
            return redirect("approvals:rules")
    return render(
        request,
        "approvals/rule_propose.html",
        {
            "formset": formset,
            "reason_form": reason_form,
            "in_force": in_force,
            "mfa_verified": session_mfa_verified(request),
        },
    )


@require_POST
@role_required(Role.SECURITY, write=True)
def rule_vote(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(ApprovalRuleSet, pk=pk)
    approve = request.POST.get("decision") == "approve"
    try:
        proposal = rules.rules_vote(
            actor=request.user,
            mfa_verified=session_mfa_verified(request),
            rule_set_id=pk,
            approve=approve,
            comment=request.POST.get("comment", ""),
        )
    except (PermissionDenied, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        return redirect("approvals:rules")
    if proposal.status == RuleSetStatus.ACTIVE:
        messages.success(request, _("Version %(v)s is in force.") % {"v": proposal.version})
    elif proposal.status == RuleSetStatus.REJECTED:
        messages.success(request, _("Version %(v)s rejected.") % {"v": proposal.version})
    else:
        messages.success(request, _("Your approval is recorded."))
    return redirect("approvals:rules")


@require_POST
@role_required(Role.SECURITY, write=True)
def rule_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(ApprovalRuleSet, pk=pk)
    try:
        rules.rules_withdraw(
            actor=request.user, mfa_verified=session_mfa_verified(request), rule_set_id=pk
        )
    except (PermissionDenied, ValidationError) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, _("Proposal withdrawn."))
    return redirect("approvals:rules")


@require_GET
@role_required(Role.SECURITY, Role.AUDITORS)
def rule_version(request: HttpRequest, pk: int) -> HttpResponse:
    rule_set = get_object_or_404(ApprovalRuleSet.objects.select_related("proposed_by"), pk=pk)
    return render(
        request,
        "approvals/rule_version.html",
        {
            "rule_set": rule_set,
            "rules": _rows(rule_set),
            "votes": list(rule_set.votes.select_related("voter")),
        },
    )


urlpatterns = [
    path("rules/", rule_list, name="rules"),
    path("rules/propose/", rule_propose, name="rules_propose"),
    path("rules/<int:pk>/", rule_version, name="rules_version"),
    path("rules/<int:pk>/vote/", rule_vote, name="rules_vote"),
    path("rules/<int:pk>/withdraw/", rule_withdraw, name="rules_withdraw"),
]
