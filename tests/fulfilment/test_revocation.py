"""Revocation: security, expiry and offboarding end a grant; its inverse change set becomes
exactly one pull request, retried like provisioning, and its merge is recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import Retry
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from dulwich.repo import Repo

from approvals.models import AccessRequest
from audit.models import AuditEvent
from fulfilment import revocation
from fulfilment import services as fulfilment
from fulfilment import sync as fulfilment_sync
from fulfilment.models import PullRequest
from fulfilment.sync import REVOKE_CLOSED_NOTE, pull_requests_sync
from fulfilment.tasks import grants_expire_task, provision_access_task, revoke_access_task
from provisioning.forges import ForgeTemporaryError
from tests.fulfilment.helpers import (
    POLICY_FILE,
    TOKEN,
    actions,
    approved,
    status,
    tree_paths,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def active(github, engineer, security, make_user, substrate) -> AccessRequest:
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    row = PullRequest.objects.get(access_request=r)
    github.merge(row.number)
    assert pull_requests_sync() == 1
    assert status(r) == "active"
    return r


def revoke(r: AccessRequest, security) -> None:
    revocation.request_revoke(
        request_id=r.pk, actor=security, mfa_verified=True, reason="Contract ended."
    )


def revoke_row(r: AccessRequest) -> PullRequest:
    return PullRequest.objects.get(
        access_request=r, purpose="revoke", state__in=["pending", "open"]
    )


def test_revoking_opens_one_pull_request_that_removes_the_grant(
    github, active, security, client, django_capture_on_commit_callbacks
):
    r = active
    main_before_grant = tree_paths(github.repo_path, github.branch_sha("main") or "")
    assert POLICY_FILE in main_before_grant  # the grant is merged
    with django_capture_on_commit_callbacks() as callbacks:
        revoke(r, security)
    assert status(r) == "revoked"
    assert callbacks  # the revocation task and the notices wait for the commit
    assert len(github.pulls) == 1  # nothing opened inside the transaction

    revoke_access_task.delay(r.pk)
    revoke_access_task.delay(r.pk)  # a duplicate message

    assert len(github.pulls) == 2
    pull = github.pulls[2]
    assert pull.head == f"vendor-access/revoke-{r.pk}-orbit-ci"
    assert (pull.body or "").startswith("## Revoke vendor access")
    head = github.branch_sha(pull.head)
    assert head is not None
    assert POLICY_FILE not in tree_paths(github.repo_path, head)
    row = revoke_row(r)
    assert (row.number, row.state, row.purpose) == (2, "open", "revoke")
    assert actions(r).count("request.revoke_pr_open") == 1  # the duplicate added nothing
    assert row.commands[0]["shell"].startswith("substrate role delete")

    client.force_login(security)
    shown = client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()
    assert 'data-testid="revocation"' in shown
    assert pull.head in shown

    github.merge(2)
    assert pull_requests_sync() == 1
    row.refresh_from_db()
    assert row.state == "merged"
    assert "request.revocation_merged" in actions(r)
    assert POLICY_FILE not in tree_paths(github.repo_path, github.branch_sha("main") or "")
    revoke_access_task.delay(r.pk)  # after the merge: nothing more
    assert len(github.pulls) == 2


def test_revoking_while_the_grant_is_open_closes_it_and_needs_no_second_pull_request(
    github, engineer, security, make_user, substrate, client
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    grant = PullRequest.objects.get(access_request=r)
    revoke(r, security)
    revoke_access_task.delay(r.pk)

    assert github.pulls[grant.number].state == "closed"
    assert github.pulls[grant.number].merged is False
    grant.refresh_from_db()
    assert (grant.state, grant.last_error) == ("closed", revocation.REVOKED_NOTE)
    assert len(github.pulls) == 1
    [row] = PullRequest.objects.filter(access_request=r, purpose="revoke")
    assert (row.number, row.state) == (None, "merged")  # complete, without a pull request
    assert "request.revoke_nothing_to_remove" in actions(r)
    client.force_login(engineer)
    shown = client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()
    assert "Nothing to remove" in shown
    assert "request.revocation_merged" in actions(r)


def test_revoked_while_the_worker_opens_the_pull_request_closes_it(
    github, engineer, security, make_user, substrate, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    r = approved(engineer, security, make_user, substrate)
    real_propose = fulfilment.propose

    def revoked_midway(row: PullRequest, **kwargs: Any) -> Any:
        info = real_propose(row, **kwargs)
        if row.purpose == "grant":
            assert status(r) == "provisioning"
            revoke(r, security)  # security acts while the worker talks to the forge
        return info

    monkeypatch.setattr(fulfilment, "propose", revoked_midway)
    with django_capture_on_commit_callbacks(execute=True):
        provision_access_task.delay(r.pk)

    assert status(r) == "revoked"
    [pull] = github.pulls.values()
    assert (pull.state, pull.merged) == ("closed", False)
    grant = PullRequest.objects.get(access_request=r, purpose="grant")
    assert (grant.state, grant.last_error) == ("closed", revocation.REVOKED_NOTE)
    assert actions(r).count("request.revoke_nothing_to_remove") == 1
    assert actions(r).count("request.revocation_merged") == 1


def test_a_grant_merged_after_revocation_queues_the_revocation_again(
    github, engineer, security, make_user, substrate, django_capture_on_commit_callbacks
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    grant = PullRequest.objects.get(access_request=r)
    revoke(r, security)
    github.merge(grant.number)  # someone merged it before the revocation task ran
    with django_capture_on_commit_callbacks(execute=True):
        assert pull_requests_sync() == 1
    assert status(r) == "revoked"
    row = revoke_row(r)
    assert row.state == "open"
    head = github.branch_sha(row.branch)
    assert POLICY_FILE not in tree_paths(github.repo_path, head or "")


def test_temporary_errors_are_retried_and_permanent_ones_fail_with_the_reason(
    github, active, security, engineer, settings, client
):
    r = active
    revoke(r, security)
    github.fail_next(502, method="POST", path_contains="/pulls")
    with pytest.raises(ForgeTemporaryError):
        revocation.request_revocation(request_id=r.pk)
    row = revoke_row(r)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "502" in row.last_error

    github.fail_next(503, method="POST", path_contains="/pulls")
    with pytest.raises(Retry) as retried:
        revoke_access_task.delay(r.pk)
    assert retried.value.when == 10.0  # the first backoff step, as for provisioning
    settings.FORGE_TOKEN = "ghs_WRONGtoken0987654321"
    revoke_access_task.delay(r.pk)
    row.refresh_from_db()
    assert row.state == "failed"
    assert "401" in row.last_error
    assert settings.FORGE_TOKEN not in row.last_error
    assert "request.revoke_fail" in actions(r)
    revoke_access_task.delay(r.pk)  # a duplicate after a permanent failure does nothing
    row.refresh_from_db()
    assert row.attempts == 3

    settings.FORGE_TOKEN = TOKEN
    with pytest.raises(PermissionDenied):
        revocation.request_revoke_retry(request_id=r.pk, actor=engineer, mfa_verified=True)
    retry_url = reverse("approvals:request_revoke_retry", kwargs={"pk": r.pk})
    client.force_login(security)
    page = client.get(reverse("approvals:request_detail", kwargs={"pk": r.pk})).content.decode()
    assert "Retry revocation" in page
    revocation.request_revoke_retry(request_id=r.pk, actor=security, mfa_verified=True)
    revoke_access_task.delay(r.pk, retry=True)  # what the retry queues on commit
    assert revoke_row(r).state == "open"
    assert (
        len([p for p in github.pulls.values() if p.head.startswith("vendor-access/revoke-")]) == 1
    )
    assert client.post(retry_url).status_code == 302  # refused by the rules now: nothing failed
    assert "request.revoke_retry" in actions(r)


def test_a_failed_revocation_tells_security_once(
    github, active, security, settings, django_capture_on_commit_callbacks, mailoutbox
):
    r = active
    revoke(r, security)
    settings.FORGE_TOKEN = "ghs_WRONGtoken0987654321"
    with django_capture_on_commit_callbacks(execute=True):
        assert revocation.request_revocation(request_id=r.pk) is None
    assert PullRequest.objects.get(access_request=r, purpose="revoke").state == "failed"
    sent = len(mailoutbox)
    assert sent >= 1
    assert all("needs help to be removed" in m.subject for m in mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        revocation.request_revocation(request_id=r.pk)  # a duplicate: nothing to fail again
        revocation.request_revocation_give_up(request_id=r.pk, message="again")
    assert len(mailoutbox) == sent


def test_a_closed_revocation_goes_back_to_security(github, active, security):
    r = active
    revoke(r, security)
    revoke_access_task.delay(r.pk)
    row = revoke_row(r)
    github.close(row.number)
    assert pull_requests_sync() == 1
    row.refresh_from_db()
    assert (row.state, row.last_error) == ("closed", REVOKE_CLOSED_NOTE)
    assert "request.revocation_merged" not in actions(r)
    revoke_access_task.delay(r.pk)  # not without security's retry
    assert PullRequest.objects.filter(access_request=r, purpose="revoke").count() == 1
    revocation.request_revoke_retry(request_id=r.pk, actor=security, mfa_verified=True)
    revoke_access_task.delay(r.pk, retry=True)
    assert revoke_row(r).number not in (None, row.number)


# --- expiry -----------------------------------------------------------------------------------


def test_expiry_warns_then_revokes_as_the_system(
    github, active, django_capture_on_commit_callbacks, mailoutbox
):
    r = active
    today = timezone.localdate()
    AccessRequest.objects.filter(pk=r.pk).update(expires_on=today + timedelta(days=30))
    assert revocation.grants_expire() == {"expiring": 0, "revoked": 0}  # not yet
    AccessRequest.objects.filter(pk=r.pk).update(expires_on=today + timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        grants_expire_task.delay()
    assert status(r) == "expiring"
    assert any("end date soon" in m.body for m in mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        assert revocation.grants_expire() == {"expiring": 0, "revoked": 0}  # idempotent

    AccessRequest.objects.filter(pk=r.pk).update(expires_on=today)
    assert revocation.grants_expire() == {"expiring": 0, "revoked": 0}  # its last day: live
    AccessRequest.objects.filter(pk=r.pk).update(expires_on=today - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert revocation.grants_expire() == {"expiring": 0, "revoked": 1}
    assert status(r) == "revoked"
    event = AuditEvent.objects.get(action="request.revoke", object_id=str(r.pk))
    assert event.actor_id is None
    assert (event.after or {}).get("source") == "expiry"
    assert revoke_row(r).state == "open"  # the revocation task ran after commit


# --- offboarding ------------------------------------------------------------------------------


def test_offboarding_a_vendor_revokes_all_its_live_grants(
    github, active, security, django_capture_on_commit_callbacks
):
    r = active
    other = AccessRequest.objects.create(
        vendor=r.vendor, requester=r.requester, strategy=r.strategy, status="approved"
    )
    draft = AccessRequest.objects.create(
        vendor=r.vendor, requester=r.requester, strategy=r.strategy, status="draft"
    )
    with django_capture_on_commit_callbacks(execute=True):
        revocation.vendor_offboard(vendor_id=r.vendor_id, actor=security, mfa_verified=True)
    assert status(r) == "revoked"
    assert status(other) == "revoked"
    assert status(draft) == "draft"
    event = AuditEvent.objects.get(action="request.revoke", object_id=str(r.pk))
    assert (event.after or {}).get("source") == "offboarding"
    assert event.actor_id == security.pk
    assert revoke_row(r).state == "open"


# --- the local forge (the default) ---------------------------------------------------------


def test_local_forge_revocation_is_merged_by_security(
    local_repo, engineer, security, make_user, substrate, client
):
    r = approved(engineer, security, make_user, substrate)
    provision_access_task.delay(r.pk)
    grant = PullRequest.objects.get(access_request=r)
    fulfilment_sync.local_pull_request_merge(pr_id=grant.pk, actor=security, mfa_verified=True)
    assert status(r) == "active"

    revoke(r, security)
    revoke_access_task.delay(r.pk)
    row = revoke_row(r)
    assert (row.forge, row.number, row.state) == ("local", 2, "open")
    assert actions(r).count("request.revoke_pr_open") == 1
    client.force_login(security)
    listing = client.get(reverse("approvals:pullrequests")).content.decode()
    assert row.branch in listing

    fulfilment_sync.local_pull_request_merge(pr_id=row.pk, actor=security, mfa_verified=True)
    row.refresh_from_db()
    assert row.state == "merged"
    assert "request.revocation_merged" in actions(r)
    with Repo(str(local_repo)) as repo:
        main = repo.refs[b"refs/heads/main"].decode()  # type: ignore[index]
    assert POLICY_FILE not in tree_paths(local_repo, main)
