"""The permission rules of approvals.policy: who may decide, revoke and extend a request, and
when, over roles x own or another's request x every state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accessportal.roles import Role
from approvals import policy
from approvals.models import AccessRequest, Approval, ExtensionApproval
from tests.factories import draft_request, staging_account
from tests.vendors.conftest import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db
Status = AccessRequest.Status
ROLES = {
    "requester": (),
    "auditor": (Role.AUDITORS,),
    "security": (Role.SECURITY,),
    "security_auditor": (Role.SECURITY, Role.AUDITORS),
}
SECURITY = {"security", "security_auditor"}


@pytest.fixture
def cases(make_user):
    """For each role, the person holding it and a request of theirs; plus another's."""
    staging_account()
    owner = make_user("olga")
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner))
    people = {name: make_user(name, *roles) for name, roles in ROLES.items()}
    own = {name: draft_request(person, vendor) for name, person in people.items()}
    return people, own, draft_request(owner, vendor)


def _check(verdict: policy.Verdict, allowed: bool, refusal: type[Exception] | None) -> None:
    assert verdict.allowed is allowed
    assert bool(verdict) is allowed
    if allowed:
        verdict.enforce()
        return
    assert verdict.reason
    assert verdict.exception is refusal
    with pytest.raises(refusal):  # type: ignore[arg-type]
        verdict.enforce()


@pytest.mark.parametrize("status", Status.values)
@pytest.mark.parametrize("mine", [True, False], ids=["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_the_matrix(cases, role, mine, status):
    people, own, others = cases
    user = people[role]
    access_request = own[role] if mine else others
    access_request.status = status
    security = role in SECURITY

    # Deciding: security, not the requester, a submitted request.
    if not security or mine:
        refusal: type[Exception] | None = PermissionDenied
    elif status != Status.SUBMITTED:
        refusal = ValidationError
    else:
        refusal = None
    _check(policy.may_decide(user, access_request), refusal is None, refusal)
    _check(policy.may_decide_as(user, access_request), refusal is None, refusal)

    # Revoking: security, of approved access, its own included.
    if not security:
        refusal = PermissionDenied
    elif status not in policy.REVOCABLE:
        refusal = ValidationError
    else:
        refusal = None
    _check(policy.may_revoke(user, access_request), refusal is None, refusal)

    # Asking to extend: the requester, whatever their roles, of a grant that runs.
    if not mine:
        refusal = PermissionDenied
    elif status not in policy.EXTENDABLE:
        refusal = ValidationError
    else:
        refusal = None
    _check(policy.may_extend(user, access_request), refusal is None, refusal)

    # Deciding an extension: security, not the requester, an ask pending (here or not).
    for pending in (False, True):
        access_request.extension_until = (
            timezone.localdate() + timedelta(days=20) if pending else None
        )
        if not security or mine:
            refusal = PermissionDenied
        elif not pending:
            refusal = ValidationError
        else:
            refusal = None
        _check(policy.may_decide_extension(user, access_request), refusal is None, refusal)

    # Reviewing a merge: security, not the requester.
    refusal = PermissionDenied if not security or mine else None
    _check(policy.may_acknowledge_merge(user, access_request), refusal is None, refusal)


@pytest.mark.parametrize("ended", [True, False])
@pytest.mark.parametrize("status", [Status.REVOKED, Status.ACTIVE])
@pytest.mark.parametrize("role", ROLES)
def test_retrying_a_revocation(cases, role, status, ended):
    people, _own, access_request = cases
    access_request.status = status
    if role not in SECURITY:
        refusal: type[Exception] | None = PermissionDenied
    elif status != Status.REVOKED or not ended:
        refusal = ValidationError
    else:
        refusal = None
    verdict = policy.may_retry_revoke(people[role], access_request, revocation_ended=ended)
    _check(verdict, refusal is None, refusal)


@pytest.mark.parametrize("decision", Approval.Decision.values)
def test_one_decision_per_person(cases, make_user, decision):
    people, _own, access_request = cases
    AccessRequest.objects.filter(pk=access_request.pk).update(status=Status.SUBMITTED)
    access_request.refresh_from_db()
    decider, other = people["security"], make_user("sasha", Role.SECURITY)
    Approval.objects.create(access_request=access_request, approver=decider, decision=decision)
    verdict = policy.may_decide(decider, access_request)
    _check(verdict, False, ValidationError)
    assert "one person counts once" in verdict.reason
    # The who-and-when rules alone still pass: the service checks the blockers in between.
    _check(policy.may_decide_as(decider, access_request), True, None)
    _check(policy.may_decide(other, access_request), True, None)


def test_one_approval_per_person_per_extension_ask(cases, make_user):
    people, _own, access_request = cases
    access_request.status = Status.ACTIVE
    access_request.extension_until = timezone.localdate() + timedelta(days=20)
    access_request.extension_round = 1
    access_request.save()
    approver, other = people["security"], make_user("sasha", Role.SECURITY)
    ExtensionApproval.objects.create(
        access_request=access_request,
        extension_round=1,
        approver=approver,
        until=access_request.extension_until,
    )
    _check(policy.may_decide_extension(approver, access_request), False, ValidationError)
    rows = list(ExtensionApproval.objects.filter(access_request=access_request))
    _check(policy.may_decide_extension(approver, access_request, rows), False, ValidationError)
    _check(policy.may_decide_extension(other, access_request, rows), True, None)
    # A new ask is a new round: the earlier approval no longer counts.
    access_request.extension_round = 2
    _check(policy.may_decide_extension(approver, access_request), True, None)
    _check(policy.may_decide_extension_as(approver, access_request), True, None)
