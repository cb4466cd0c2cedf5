"""Security's decisions: every approval rule, whatever the entry point, and the race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals import decisions
from approvals.models import AccessRequest, Approval
from audit.models import AuditEvent
from audit.services import audit_verify
from fulfilment import revocation
from inventory.models import AwsAccount
from tests.approvals.helpers import submitted
from tests.factories import force_login_with_mfa
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db


def test_one_approval_approves_a_low_risk_request(
    reviewed_vendor, engineer, security, account, django_capture_on_commit_callbacks
):
    r = submitted(reviewed_vendor, engineer)
    assert r.required_approvals == 1
    with django_capture_on_commit_callbacks() as callbacks:
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    assert AccessRequest.objects.get(pk=r.pk).status == "approved"
    assert len(callbacks) == 2  # the notice and the provisioning job, both after commit
    event = AuditEvent.objects.get(action="request.approve", object_id=str(r.pk))
    assert event.after is not None
    assert (event.before, event.after["status"]) == ({"status": "submitted"}, "approved")
    assert audit_verify().ok


def test_nobody_approves_their_own_request(reviewed_vendor, security, security2, account):
    r = submitted(reviewed_vendor, security)
    with pytest.raises(PermissionDenied, match="You filed this request"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    assert not Approval.objects.exists()


def test_only_security_decides(reviewed_vendor, engineer, make_user, account):
    r = submitted(reviewed_vendor, engineer)
    for person in (make_user("omar"), make_user("ari", Role.AUDITORS)):
        with pytest.raises(PermissionDenied, match="Only the security team"):
            decisions.request_approve(request_id=r.pk, approver=person, mfa_verified=True)


def test_mfa_is_required(reviewed_vendor, engineer, security, account):
    r = submitted(reviewed_vendor, engineer)
    with pytest.raises(PermissionDenied, match="second factor"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=False)


def test_quorum_of_two_distinct_people_for_an_iam_user(
    reviewed_vendor, engineer, security, security2, account
):
    r = submitted(reviewed_vendor, engineer, strategy="iam_user")
    assert r.required_approvals == 2
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    assert AccessRequest.objects.get(pk=r.pk).status == "submitted"
    with pytest.raises(ValidationError, match="one person counts once"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    decisions.request_approve(request_id=r.pk, approver=security2, mfa_verified=True)
    assert AccessRequest.objects.get(pk=r.pk).status == "approved"
    assert Approval.objects.filter(access_request=r).count() == 2


def test_the_request_page_offers_no_second_decision_to_one_who_approved(
    client, reviewed_vendor, engineer, security, security2, account
):
    """One person counts once, so the page (like the admin and the dashboard) offers the
    approve and reject buttons only to a security member who has not decided yet."""
    r = submitted(reviewed_vendor, engineer, strategy="iam_user")
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    url = reverse("approvals:request_detail", args=[r.pk])
    approve = reverse("approvals:request_approve", args=[r.pk])
    force_login_with_mfa(client, security)
    assert approve not in client.get(url).content.decode()
    force_login_with_mfa(client, security2)
    assert approve in client.get(url).content.decode()


def test_one_who_approved_cannot_then_reject(
    client, reviewed_vendor, engineer, security, security2, account
):
    """A request needing two approvers, approved by one: that person rejecting it is refused
    with a reason (a form error on the page, not a 500), and the request stays submitted."""
    r = submitted(reviewed_vendor, engineer, strategy="iam_user")
    AccessRequest.objects.filter(pk=r.pk).update(required_approvals=2)
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    with pytest.raises(ValidationError, match="already"):
        decisions.request_reject(
            request_id=r.pk, approver=security, mfa_verified=True, comment="changed my mind"
        )
    force_login_with_mfa(client, security)
    response = client.post(
        reverse("approvals:request_reject", args=[r.pk]), {"comment": "changed my mind"}
    )
    assert response.status_code < 500
    assert AccessRequest.objects.get(pk=r.pk).status == "submitted"
    assert list(Approval.objects.filter(access_request=r).values_list("decision", flat=True)) == [
        "approve"
    ]


def test_vendor_without_a_current_review_cannot_be_approved(engineer, security, account):
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    r = submitted(vendor, engineer)
    with pytest.raises(ValidationError, match="no current approved SOC 2 review"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)


def test_lint_errors_block_approval(reviewed_vendor, engineer, security, account):
    # An unknown service prefix: valid grammar, so the form takes it, but parliament's error.
    unknown = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "nosuchservice:GetThing", "Resource": "*"}],
    }
    import json

    r = submitted(
        reviewed_vendor, engineer, policy_source="inline", inline_policy=json.dumps(unknown)
    )
    assert AccessRequest.objects.get(pk=r.pk).has_lint_errors
    with pytest.raises(ValidationError, match="lint errors"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)


def test_reject_needs_a_comment(reviewed_vendor, engineer, security, account):
    r = submitted(reviewed_vendor, engineer)
    with pytest.raises(ValidationError):
        decisions.request_reject(request_id=r.pk, approver=security, mfa_verified=True, comment=" ")
    decisions.request_reject(
        request_id=r.pk, approver=security, mfa_verified=True, comment="Use Auditor instead."
    )
    assert AccessRequest.objects.get(pk=r.pk).status == "rejected"
    with pytest.raises(ValidationError, match="only a submitted request"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)


def test_revoke_after_approval(reviewed_vendor, engineer, security, account):
    r = submitted(reviewed_vendor, engineer)
    with pytest.raises(ValidationError, match="Only approved access"):
        revocation.request_revoke(request_id=r.pk, actor=security, mfa_verified=True, reason="x")
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    revocation.request_revoke(
        request_id=r.pk, actor=security, mfa_verified=True, reason="Contract ended."
    )
    assert AccessRequest.objects.get(pk=r.pk).status == "revoked"


def test_crafted_posts_are_refused(client, reviewed_vendor, engineer, security, account):
    r = submitted(reviewed_vendor, engineer)
    client.force_login(engineer)  # the requester is not security
    response = client.post(reverse("approvals:request_approve", kwargs={"pk": r.pk}))
    assert response.status_code == 403
    client.force_login(security)  # no MFA in this session
    response = client.post(reverse("approvals:request_approve", kwargs={"pk": r.pk}), follow=True)
    assert "second factor" in response.content.decode()
    # The admin does not open at all to a session without the second factor.
    admin = client.post(
        reverse("admin:approvals_accessrequest_decide", args=[r.pk]), {"decision": "approve"}
    )
    assert admin.status_code == 302
    assert admin["Location"].startswith(reverse("admin:login"))
    # And the service refuses whatever the entry point.
    with pytest.raises(PermissionDenied, match="second factor"):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=False)
    assert AccessRequest.objects.get(pk=r.pk).status == "submitted"


def _sign_in_with_totp(client, user, password):
    from allauth.mfa.totp.internal.auth import (
        TOTP,
        format_hotp_value,
        generate_totp_secret,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = client.post(reverse("account_login"), {"login": user.username, "password": password})
    assert response["Location"] == reverse("mfa_authenticate")
    counters = list(yield_hotp_counters_from_time())
    code = format_hotp_value(hotp_value(secret, counters[len(counters) // 2]))
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302


def test_approving_through_the_admin_with_mfa_and_self_approval_refused(
    client, reviewed_vendor, engineer, security, security2, account, password
):
    r = submitted(reviewed_vendor, security2)
    _sign_in_with_totp(client, security2, password)
    page = client.get(reverse("admin:approvals_accessrequest_change", args=[r.pk]))
    assert page.status_code == 200
    client.post(
        reverse("admin:approvals_accessrequest_decide", args=[r.pk]), {"decision": "approve"}
    )
    assert AccessRequest.objects.get(pk=r.pk).status == "submitted"  # own request
    client.logout()
    _sign_in_with_totp(client, security, password)
    page = client.get(reverse("admin:approvals_accessrequest_change", args=[r.pk]))
    assert "Approve" in page.content.decode()
    assert "request.submit" in page.content.decode()  # the timeline
    assert "review Current" in page.content.decode()
    client.post(
        reverse("admin:approvals_accessrequest_decide", args=[r.pk]),
        {"decision": "approve", "comment": "Narrow and reviewed."},
    )
    approved = AccessRequest.objects.get(pk=r.pk)
    assert approved.status == "approved"
    assert Approval.objects.get(access_request=r).mfa_verified is True
    # The approvals so far are listed on the admin's request page (the inline).
    page = client.get(reverse("admin:approvals_accessrequest_change", args=[r.pk]))
    inline = page.content.decode().split('id="approvals-group"')[1]
    assert "Narrow and reviewed." in inline


def test_the_admin_index_leads_security_and_auditors_to_the_request_list(
    client, reviewed_vendor, engineer, security, make_user
):
    """Security members hold roles, not per-model permissions: the admin's index must still
    link the request list (found missing by the journey test, tests/e2e/test_journey.py)."""
    changelist = reverse("admin:approvals_accessrequest_changelist")
    for user in (security, make_user("ada", Role.AUDITORS, is_staff=True)):
        force_login_with_mfa(client, user)
        index = client.get(reverse("admin:index")).content.decode()
        assert f'href="{changelist}"' in index, user
    force_login_with_mfa(client, make_user("stan", is_staff=True))  # staff without a role
    assert f'href="{changelist}"' not in client.get(reverse("admin:index")).content.decode()


def test_admin_cannot_edit_or_delete_requests_and_approvals(
    client, reviewed_vendor, engineer, security, account
):
    r = submitted(reviewed_vendor, engineer)
    force_login_with_mfa(client, security)
    change = client.post(
        reverse("admin:approvals_accessrequest_change", args=[r.pk]), {"status": "approved"}
    )
    assert change.status_code in (403, 200)
    assert AccessRequest.objects.get(pk=r.pk).status == "submitted"
    assert (
        client.get(reverse("admin:approvals_accessrequest_delete", args=[r.pk])).status_code == 403
    )
    assert client.get(reverse("admin:approvals_accessrequest_add")).status_code == 403
    listing = client.get(
        reverse("admin:approvals_accessrequest_changelist"),
        {"review_state": "current", "status": "submitted"},
    )
    assert f">{r.pk}<" in listing.content.decode()


@pytest.fixture
def redis_queue(services):
    """Tasks go to the test session's Redis instead of running inline; yields the queue's
    task names and empties it afterwards so no later worker picks them up."""
    import base64
    import json

    import redis

    from accessportal.celery import app

    client = redis.Redis.from_url(f"{services.redis_url}/0")
    client.delete("celery")
    app.conf.task_always_eager = False

    def task_names() -> list[str]:
        names = []
        for raw in client.lrange("celery", 0, -1):
            message = json.loads(raw)
            names.append(message["headers"]["task"])
            json.loads(base64.b64decode(message["body"]))  # arguments are plain JSON ids
        return names

    yield task_names
    app.conf.task_always_eager = True
    client.delete("celery")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strategy", ["role_per_account", "iam_user"])
def test_two_approvers_at_once_give_exactly_one_transition(make_user, strategy, redis_queue):
    assert connection.vendor == "postgresql"
    engineer = make_user("erin")
    reviewer = make_user("rita", Role.SECURITY)
    approvers = [make_user("sam", Role.SECURITY), make_user("sasha", Role.SECURITY)]
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    vendor_services.review_decide(
        review_id=review.pk, actor=reviewer, decision="approved", mfa_verified=True
    )
    AwsAccount.objects.create(
        account_id="111122223333",
        name="a",
        account_type="service",
        domain="payments",
        environment="staging",
        quality="alpha",
        status="active",
    )
    r = submitted(vendor, engineer, strategy=strategy)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(user):
        from django.db import connections

        try:
            barrier.wait(timeout=10)
            decisions.request_approve(request_id=r.pk, approver=user, mfa_verified=True)
            outcomes.append("ok")
        except ValidationError as exc:
            outcomes.append(f"refused: {exc.messages[0]}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(u,)) for u in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Exactly one transition and exactly one provisioning job in the broker's queue.
    assert AccessRequest.objects.get(pk=r.pk).status == "approved"
    assert AuditEvent.objects.filter(action="request.approve", object_id=str(r.pk)).count() == 1
    queued = redis_queue()
    assert queued.count("fulfilment.tasks.provision_access_task") == 1
    if strategy == "iam_user":  # quorum of two: both count, one transition
        assert sorted(outcomes) == ["ok", "ok"]
        assert Approval.objects.filter(access_request_id=r.pk).count() == 2
    else:  # the second finds the request already approved
        assert sorted(outcomes)[0] == "ok"
        assert sorted(outcomes)[1].startswith("refused")
        assert Approval.objects.filter(access_request_id=r.pk).count() == 1
    assert audit_verify().ok


def test_a_worker_process_registers_the_notice_tasks(subprocess_env):
    import subprocess
    import sys

    from tests.processes import ROOT

    code = (
        "import django; django.setup(); from accessportal.celery import app; "
        "app.loader.import_default_modules(); print(' '.join(sorted(app.tasks)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    registered = result.stdout.split()
    assert "notifications.tasks.notice_email_task" in registered
    assert "notifications.tasks.notice_slack_task" in registered


def _two_approval_grant(vendor, requester, first, second):
    """An IAM-user request (quorum 2), approved by `first` and `second`."""
    r = submitted(vendor, requester, strategy="iam_user")
    assert r.required_approvals == 2
    decisions.request_approve(request_id=r.pk, approver=first, mfa_verified=True)
    decisions.request_approve(request_id=r.pk, approver=second, mfa_verified=True)
    r.refresh_from_db()
    assert r.status == "approved"
    assert r.expires_on is not None
    return r


def test_an_extension_is_capped_and_needs_the_grants_own_quorum(
    reviewed_vendor, engineer, security, security2, account, settings
):
    r = _two_approval_grant(reviewed_vendor, engineer, security, security2)
    later = r.expires_on + timedelta(days=20)
    with pytest.raises(ValidationError, match="at the latest"):
        decisions.request_extension_ask(
            request_id=r.pk,
            actor=engineer,
            until=timezone.localdate() + timedelta(days=400),
            reason="More time",
        )
    decisions.request_extension_ask(
        request_id=r.pk, actor=engineer, until=later, reason="Migration runs late."
    )
    with pytest.raises(PermissionDenied, match="second factor"):
        decisions.request_extension_decide(
            request_id=r.pk, approver=security, approve=True, mfa_verified=False
        )
    # One approval of a grant that needed two leaves the extension pending.
    decisions.request_extension_decide(
        request_id=r.pk, approver=security, approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    assert (r.expires_on, r.extensions_granted, r.extension_until) == (
        later - timedelta(days=20),
        0,
        later,
    )
    assert AuditEvent.objects.filter(action="request.extension_approval_recorded").count() == 1
    # The same person twice counts once.
    with pytest.raises(ValidationError, match="one person counts once"):
        decisions.request_extension_decide(
            request_id=r.pk, approver=security, approve=True, mfa_verified=True
        )
    assert not AuditEvent.objects.filter(action="request.extension_grant").exists()
    # A second, distinct MFA-verified member completes the quorum.
    decisions.request_extension_decide(
        request_id=r.pk, approver=security2, approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    assert (r.expires_on, r.extensions_granted, r.extension_until) == (later, 1, None)
    grant = AuditEvent.objects.get(action="request.extension_grant")
    assert (grant.after or {}).get("approvals") == 2
    settings.PORTAL_MAX_EXTENSIONS = 1
    with pytest.raises(ValidationError, match="extended 1 times already"):
        decisions.request_extension_ask(
            request_id=r.pk, actor=engineer, until=later + timedelta(days=1), reason="Again"
        )
    assert AuditEvent.objects.filter(action="request.extension_grant").count() == 1


def test_the_requester_never_approves_their_own_extension(
    reviewed_vendor, security, security2, make_user, account
):
    third = make_user("sol", Role.SECURITY)
    r = _two_approval_grant(reviewed_vendor, security, security2, third)
    later = r.expires_on + timedelta(days=10)
    decisions.request_extension_ask(request_id=r.pk, actor=security, until=later, reason="More")
    with pytest.raises(PermissionDenied, match="You asked for this extension"):
        decisions.request_extension_decide(
            request_id=r.pk, approver=security, approve=True, mfa_verified=True
        )
    decisions.request_extension_decide(
        request_id=r.pk, approver=security2, approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    assert r.extension_until == later  # the requester's own click did not count
    decisions.request_extension_decide(
        request_id=r.pk, approver=third, approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    assert (r.expires_on, r.extension_until) == (later, None)


def test_approvals_of_an_earlier_ask_do_not_count_toward_a_new_one(
    reviewed_vendor, engineer, security, security2, make_user, account
):
    r = _two_approval_grant(reviewed_vendor, engineer, security, security2)
    first = r.expires_on + timedelta(days=5)
    decisions.request_extension_ask(request_id=r.pk, actor=engineer, until=first, reason="A")
    decisions.request_extension_decide(
        request_id=r.pk, approver=security, approve=True, mfa_verified=True
    )
    decisions.request_extension_decide(
        request_id=r.pk, approver=security2, approve=False, mfa_verified=True, comment="No."
    )
    second = r.expires_on + timedelta(days=25)
    decisions.request_extension_ask(request_id=r.pk, actor=engineer, until=second, reason="B")
    decisions.request_extension_decide(
        request_id=r.pk, approver=make_user("sol", Role.SECURITY), approve=True, mfa_verified=True
    )
    r.refresh_from_db()
    # Security's approval was for the refused ask: this one has one approval of two.
    assert (r.extension_until, r.extensions_granted) == (second, 0)


def test_the_dashboard_lists_pending_extensions_for_security(
    client, reviewed_vendor, engineer, security, security2, make_user, account
):
    r = _two_approval_grant(reviewed_vendor, engineer, security, security2)
    later = r.expires_on + timedelta(days=10)
    decisions.request_extension_ask(request_id=r.pk, actor=engineer, until=later, reason="More")
    decisions.request_extension_decide(
        request_id=r.pk, approver=security, approve=True, mfa_verified=True
    )

    def extensions_section(user) -> str:
        client.force_login(user)
        html = client.get("/").content.decode()
        start = html.index('id="extensions-heading"')
        return html[start : html.index("</section>", start)]

    waiting = extensions_section(security2)
    assert f"#{r.pk} " in waiting
    assert f"until {later.isoformat()}" in waiting
    assert "1 of 2 approvals" in waiting
    # Nothing left to do for the one who approved already.
    assert f"#{r.pk} " not in extensions_section(security)
    page = client.get(reverse("approvals:request_detail", args=[r.pk])).content.decode()
    assert "1 of 2 approvals: sam" in page
    decide = reverse("approvals:request_extension_decide", args=[r.pk])
    assert decide not in page  # sam counted already
    client.force_login(security2)
    assert decide in client.get(reverse("approvals:request_detail", args=[r.pk])).content.decode()


def test_only_the_requester_asks_and_only_for_approved_access(
    reviewed_vendor, engineer, security, account
):
    r = submitted(reviewed_vendor, engineer)
    later = timezone.localdate() + timedelta(days=60)
    with pytest.raises(ValidationError, match="Only approved or active"):
        decisions.request_extension_ask(request_id=r.pk, actor=engineer, until=later, reason="x")
    decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    with pytest.raises(PermissionDenied):
        decisions.request_extension_ask(request_id=r.pk, actor=security, until=later, reason="x")


@pytest.mark.parametrize("source", list(AccessRequest.Status.values))
def test_every_transition_of_the_state_machine(reviewed_vendor, engineer, account, source):
    from approvals.models import TRANSITIONS
    from approvals.workflow import transition

    r = submitted(reviewed_vendor, engineer)
    for target in AccessRequest.Status.values:
        AccessRequest.objects.filter(pk=r.pk).update(status=source)
        r.refresh_from_db()
        if target in TRANSITIONS[source]:
            transition(r, to=target, actor=engineer, action="request.test")
            assert AccessRequest.objects.get(pk=r.pk).status == target
        else:
            with pytest.raises(ValidationError, match="cannot become"):
                transition(r, to=target, actor=engineer, action="request.test")
            assert AccessRequest.objects.get(pk=r.pk).status == source


def test_dashboard_lists_grants_ending_within_30_days(
    client, reviewed_vendor, engineer, security, account, make_user
):
    soon = submitted(
        reviewed_vendor, engineer, expires_on=timezone.localdate() + timedelta(days=10)
    )
    later = submitted(
        reviewed_vendor,
        engineer,
        expires_on=timezone.localdate() + timedelta(days=90),
        role_name="OrbitCiLater",
    )
    for r in (soon, later):
        decisions.request_approve(request_id=r.pk, approver=security, mfa_verified=True)
    client.force_login(make_user("anyone"))
    html = client.get("/").content.decode()
    start = html.index('data-testid="expiring"')
    section = html[start : start + 600]
    assert f"#{soon.pk} " in section
    assert f"#{later.pk} " not in section
