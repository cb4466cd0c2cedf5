"""An IAM-user grant's access key through the real processes (issue 7, DESIGN.md section 6).

Approval by two people, the worker's pull request on the fake GitHub, the signed merge webhook
to gunicorn: the request is active. "Terraform" (this process) creates the IAM user in the AWS
emulator, a separate `manage.py aws_emulator` process that the worker reaches through a proxy
injecting AWS's throttling. The worker issues exactly one key and e-mails a one-time link; the
vendor's browser (urllib against gunicorn) reveals it once. Then the secret is searched for in
everything the deployment keeps, and found nowhere.

A worker killed between CreateAccessKey and saving the key: the redelivered task deletes the
key nobody recorded and issues one; IAM ends with exactly one key.
"""

from __future__ import annotations

import http.cookiejar
import logging
import re
import urllib.request
from datetime import timedelta
from urllib.error import HTTPError

import boto3
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from accessportal.roles import Role
from approvals import decisions
from approvals import requests as request_services
from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from keys.models import AccessKey, KeyDelivery
from keys.tasks import access_key_issue_task, access_keys_issue_due_task
from tests.integration.helpers import actions, broker_idle, get_page, pulls_for, status
from tests.integration.secret_places import kept_everywhere, places_holding
from tests.processes import wait_until
from tests.stack import FORGE_TOKEN, WEBHOOK_SECRET, Stack, iam, kill, link_in_mail
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
USES_AWS = True  # tests/stack.py starts the emulator and the proxy
CONTACT = "keys@vendor.example"


def aws_key_ids(stack: Stack, user: str) -> set[str]:
    metadata = iam(stack).list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"] for k in metadata}


def active_iam_grant(
    stack: Stack, make_user, substrate, worker_name: str, slug: str
) -> AccessRequest:  # type: ignore[no-untyped-def]
    """An IAM-user grant approved by two of security, provisioned by the worker, merged on
    GitHub (the webhook makes it active), and its IAM user created as Terraform would."""
    engineer = make_user("erin")
    first, second = (make_user(n, Role.SECURITY, is_staff=True) for n in ("sam", "sue"))
    vendor = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, name=slug.replace("-", " ").title(), slug=slug)
    )
    vendor_services.contact_save(
        vendor_id=vendor.pk,
        actor=engineer,
        data={"name": "Kim", "email": CONTACT, "receives_access_keys": True},
    )
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    vendor_services.review_decide(
        review_id=review.pk,
        actor=make_user("rita", Role.SECURITY),
        decision="approved",
        mfa_verified=True,
    )
    domain = substrate.services()[0].domain
    r = request_services.request_save(
        actor=engineer,
        data={
            "vendor": vendor,
            "strategy": "iam_user",
            "principals": "",
            "external_id": "",
            "domains": [domain],
            "environments": ["*"],
            "qualities": ["*"],
            "role_name": "",
            "policy_source": "managed",
            "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "justification": "Pushes build artefacts.",
            "expires_on": timezone.localdate() + timedelta(days=30),
        },
    )
    request_services.request_submit(request_id=r.pk, actor=engineer)
    decisions.request_approve(request_id=r.pk, approver=first, mfa_verified=True)
    decisions.request_approve(request_id=r.pk, approver=second, mfa_verified=True)
    row = wait_until(
        lambda: PullRequest.objects.filter(access_request_id=r.pk, state="open").first(),
        timeout=60,
        what="the pull request",
        log=stack.worker_log(worker_name),
    )
    stack.github.merge(row.number or 0)  # the signed webhook makes the request active
    assert status(r) == "active", stack.github.deliveries
    iam(stack).create_user(UserName=slug)  # terraform apply, after the merge
    return AccessRequest.objects.get(pk=r.pk)


def issued_key(stack: Stack, r: AccessRequest, worker_name: str) -> AccessKey:
    key = wait_until(
        lambda: AccessKey.objects.filter(access_request=r, status="active").first(),
        timeout=90,
        what="the key to be issued",
        log=stack.worker_log(worker_name),
    )
    wait_until(
        lambda: KeyDelivery.objects.filter(access_key=key, sent_at__isnull=False).exists(),
        timeout=60,
        what="the one-time link e-mail",
        log=stack.worker_log(worker_name),
    )
    wait_until(broker_idle, timeout=60, what="the broker to be idle")
    return key


def reveal(url: str) -> tuple[int, str]:
    """The vendor's browser: GET the confirmation page, then POST its form (which carries no
    CSRF token: the link's token is the credential, see web/views/keys.py)."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    try:
        with opener.open(url, timeout=30) as response:
            page = response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()
    assert 'data-testid="key-confirm"' in page, page
    assert "csrfmiddlewaretoken" not in page
    # Chromium posts "Origin: null" from the page's no-referrer policy; so does this.
    request = urllib.request.Request(url, data=b"", method="POST", headers={"Origin": "null"})
    try:
        with opener.open(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except HTTPError as error:
        return error.code, error.read().decode()


def test_a_key_issued_through_throttling_is_revealed_once_and_kept_nowhere(
    stack, start_worker, web, substrate, make_user, services, caplog, client
):
    caplog.set_level(logging.DEBUG)
    assert stack.aws is not None
    # At DEBUG, the level someone chasing a problem would pick: still nothing may leak.
    start_worker("keys", "--loglevel", "DEBUG")
    r = active_iam_grant(stack, make_user, substrate, "keys", "keyed-vendor")
    assert len(pulls_for(stack.github, r)) == 1

    # AWS throttles the first IAM calls; boto3's backoff and the task's retries get through.
    stack.aws.proxy.throttle(3, service="iam")
    access_keys_issue_due_task.delay()  # the poll that beat sends every minute
    access_keys_issue_due_task.delay()  # a duplicate of it
    access_key_issue_task.delay(r.pk)  # and the request's own issuing task
    key = issued_key(stack, r, "keys")

    assert list(stack.aws.proxy.actions("throttled"))[:1] == ["GetUser"]
    assert aws_key_ids(stack, "keyed-vendor") == {key.access_key_id}
    assert list(stack.aws.proxy.actions("forwarded")).count("CreateAccessKey") == 1
    assert AccessKey.objects.filter(access_request=r).count() == 1

    url, token = link_in_mail(stack)
    code, page = reveal(url)
    assert code == 200, page
    shown_id = re.search(r'data-testid="access-key-id">([A-Z0-9]+)<', page)
    shown_secret = re.search(r'data-testid="secret-access-key">([^<]+)<', page)
    assert shown_id
    assert shown_secret
    assert shown_id.group(1) == key.access_key_id
    secret = shown_secret.group(1)
    assert stack.aws.proxy.secrets_seen == [secret]  # what AWS handed out, shown once

    # The secret works: it signs a call the emulator accepts as the vendor's IAM user.
    sts = boto3.client(
        "sts",
        endpoint_url=stack.aws.emulator_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret,
    )
    assert sts.get_caller_identity()["Arn"].endswith(":user/keyed-vendor")

    code, page = reveal(url)  # once only
    assert code == 404
    assert secret not in page
    delivery = KeyDelivery.objects.get(access_key=key)
    assert (delivery.ciphertext, delivery.wipe_reason) == (None, "revealed")
    assert actions(r, "key.") == ["key.issue", "key.link_sent", "key.reveal"]

    # Security's view of the request, after the reveal: the key masked, no secret.
    client.force_login(get_user_model().objects.get(username="sam"))
    code, request_page = get_page(
        web, reverse("approvals:request_detail", kwargs={"pk": r.pk}), client
    )
    assert code == 200
    assert key.masked_id in request_page.decode()

    places = kept_everywhere(stack, services, caplog.text)
    places["security's request page"] = request_page
    # The search sees what it should: the flow's traces are there, in the right places.
    assert "postgresql" in places_holding(key.access_key_id, places)
    mails = [p for p in places if p.startswith("mail ")]
    assert mails
    assert not set(mails) & set(places_holding(key.access_key_id, places))  # only the link
    assert "log worker-keys.log" in places_holding("keys.tasks.access_key_issue_task", places)
    assert any(p.startswith("mail ") for p in places_holding(token, places))
    # The secret is nowhere; the link's token only in the e-mail; the forge's credentials
    # nowhere at all.
    assert places_holding(secret, places) == []
    assert [p for p in places_holding(token, places) if not p.startswith("mail ")] == []
    assert places_holding(FORGE_TOKEN, places) == []
    assert places_holding(WEBHOOK_SECRET, places) == []


def test_a_worker_killed_between_creating_and_saving_the_key_leaves_one_key(
    stack, start_worker, web, substrate, make_user, services, caplog
):
    caplog.set_level(logging.DEBUG)
    assert stack.aws is not None
    doomed = start_worker("doomed-keys")
    r = active_iam_grant(stack, make_user, substrate, "doomed-keys", "killed-keys")
    wait_until(broker_idle, timeout=60, what="the broker to be idle")

    # IAM creates the key, but the answer reaches the worker only after it was killed.
    held = stack.aws.proxy.hold("CreateAccessKey")
    access_key_issue_task.delay(r.pk)
    try:
        assert held.arrived.wait(timeout=60), stack.worker_log("doomed-keys").read_text()
        kill(doomed)
    finally:
        held.release()
    (lost,) = aws_key_ids(stack, "killed-keys")  # created in IAM, its secret lost with it
    pending = AccessKey.objects.get(access_request=r)
    assert (pending.status, pending.access_key_id) == ("pending", "")
    # The killed worker's claim on the key lapses (5 minutes in production); the broker
    # redelivers only after its visibility timeout (an hour), so the claim is long gone by
    # then. Here both are short; the claim is moved back instead of waiting.
    AccessKey.objects.filter(pk=pending.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )

    start_worker("successor-keys")
    key = issued_key(stack, r, "successor-keys")
    assert aws_key_ids(stack, "killed-keys") == {key.access_key_id}
    assert key.access_key_id != lost
    assert AccessKey.objects.filter(access_request=r).count() == 1
    assert KeyDelivery.objects.filter(access_key=key).count() == 1
    assert actions(r).count("request.activate") == 1

    # Both secrets AWS handed out, the lost one and the unrevealed one, in plaintext nowhere.
    lost_secret, issued_secret = stack.aws.proxy.secrets_seen[-2:]
    places = kept_everywhere(stack, services, caplog.text)
    assert places_holding(lost_secret, places) == []
    assert places_holding(issued_secret, places) == []
    assert KeyDelivery.objects.get(access_key=key).ciphertext is not None  # encrypted only
