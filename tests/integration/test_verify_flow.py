"""A grant's truth read from AWS by the real processes (issue 17, "Must show").

The worker opens the pull request on the fake GitHub, the signed merge webhook reaches
gunicorn: the request has merged, and a worker reads AWS at once (the pull request's table
queues it). AWS does not hold the grant yet: "Merged, waiting to be applied". This process
plays Terraform in the AWS emulator (a separate `manage.py aws_emulator` process the workers
reach through the fault-injecting proxy), security records that the commands ran, and a
worker verifies: Active, through IAM's throttling. A hand edit is Drifted; the removal's
merge is not Revoked while the role is in AWS; once it is gone, Revoked (verified).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from approvals.models import AccessRequest
from fulfilment import services as fulfilment_services
from fulfilment.models import PullRequest
from fulfilment.revocation import request_revoke
from provisioning import aws
from tests.integration.helpers import approve, broker_idle, get_page, status
from tests.processes import wait_until
from tests.stack import Stack
from verification.emulator import emulator_apply, emulator_remove, expected_for
from verification.grants import grants_verify_request
from verification.models import GrantCheck, VerificationRun
from verification.truth import truths_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
USES_AWS = True  # tests/stack.py starts the emulator and the proxy
OUTSIDER = "arn:aws:iam::444455556666:root"


def _truth(r):  # type: ignore[no-untyped-def]
    fresh = AccessRequest.objects.get(pk=r.pk)
    return truths_for([fresh])[r.pk]


def _checked(stack: Stack, r, after, what: str) -> GrantCheck:  # type: ignore[no-untyped-def]
    """The request's check once a worker has written one newer than `after`."""

    def newer() -> GrantCheck | None:
        check = GrantCheck.objects.filter(access_request=r).first()
        if check is None or (after is not None and check.checked_at <= after):
            return None
        return check

    return wait_until(newer, timeout=90, what=what, log=stack.worker_log("main"))


def _verify_now(stack: Stack, r, security) -> GrantCheck:  # type: ignore[no-untyped-def]
    before = GrantCheck.objects.get(access_request=r).checked_at
    run, created = grants_verify_request(actor=security, mfa_verified=True, access_request=r)
    assert created
    check = _checked(stack, r, before, "the worker to verify on demand")
    wait_until(
        lambda: VerificationRun.objects.get(pk=run.pk).status != "running",
        timeout=30,
        what="the run to finish",
    )
    return check


def test_merged_applied_drifted_and_revoked_are_what_aws_holds(
    stack, worker, web, substrate, make_user, client
):
    r = approve(make_user, substrate, "Orbit CI")
    security = get_user_model().objects.get(username="sam")
    row = wait_until(
        lambda: PullRequest.objects.filter(access_request=r, state="open").first(),
        timeout=60,
        what="the pull request",
        log=stack.worker_log("main"),
    )
    stack.github.merge(row.number or 0)
    assert status(r) == "active"

    check = _checked(stack, r, None, "the worker to read AWS after the merge")
    assert check.state == GrantCheck.State.ABSENT
    assert _truth(r).label == "Merged, waiting to be applied"
    client.force_login(security)
    page_path = reverse("approvals:request_detail", kwargs={"pk": r.pk})
    code, page = get_page(web, page_path, client)
    assert code == 200
    assert "Merged, waiting to be applied" in page.decode()

    # Terraform (or `substrate role create`) runs; security says so; a worker reads AWS,
    # through IAM throttling the proxy injects (boto3's standard retries wait it out).
    emulator_apply(expected_for(r))
    stack.aws.proxy.throttle(2, service="iam")
    row.refresh_from_db()
    fulfilment_services.pull_request_commands_done(
        request_id=r.pk, pr_id=row.pk, actor=security, mfa_verified=True
    )
    check = _checked(stack, r, check.checked_at, "the worker to verify after the commands")
    assert check.state == GrantCheck.State.MATCHES, check.accounts
    assert _truth(r).label == "Active (verified in AWS)"
    assert list(stack.aws.proxy.actions("throttled")), "the proxy throttled nothing"
    code, page = get_page(web, page_path, client)
    assert "Active (verified in AWS)" in page.decode()

    # Someone adds an outside principal to the role by hand.
    [account_id] = check.accounts and [a["account_id"] for a in check.accounts]
    role = expected_for(r).roles_to_read()[0][1]
    aws.emulator_trust_edit(
        account_id,
        role,
        add=[{"Effect": "Allow", "Principal": {"AWS": OUTSIDER}, "Action": "sts:AssumeRole"}],
    )
    check = _verify_now(stack, r, security)
    assert check.state == GrantCheck.State.DIFFERS
    [drifted] = check.accounts
    assert f"role {role}: trust: principal {OUTSIDER} not approved" in drifted["differences"]
    assert _truth(r).code == "drifted"

    # Revoked: the removal pull request merges, but the role is still in AWS.
    request_revoke(request_id=r.pk, actor=security, mfa_verified=True, reason="Vendor offboarded.")
    removal = wait_until(
        lambda: PullRequest.objects.filter(
            access_request=r, purpose="revoke", state="open"
        ).first(),
        timeout=60,
        what="the removal pull request",
        log=stack.worker_log("main"),
    )
    before = GrantCheck.objects.get(access_request=r).checked_at
    stack.github.merge(removal.number or 0)
    check = _checked(stack, r, before, "the worker to read AWS after the removal merged")
    assert check.expectation == GrantCheck.Expectation.ABSENT
    assert _truth(r).label == "Removal merged, still in AWS"

    emulator_remove(expected_for(r))
    check = _verify_now(stack, r, security)
    assert check.state == GrantCheck.State.ABSENT
    assert _truth(r).label == "Revoked (verified: not in AWS)"
    wait_until(broker_idle, timeout=60, what="the broker to be idle")
