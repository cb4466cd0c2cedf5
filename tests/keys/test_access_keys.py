"""Access keys of IAM-user grants (keys/services.py) against the AWS emulator as a server.

Real boto3 calls over HTTP to moto, real PostgreSQL, Celery eager; nothing mocked. Time-based
rules (expiry, rotation, the unused flag) are exercised by moving the recorded dates back.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config as BotoConfig
from celery.exceptions import Retry
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from moto.server import ThreadedMotoServer

from approvals.models import AccessRequest
from audit.models import AuditEvent
from demo.substrate_repo import create_bare_repository
from fulfilment import revocation
from keys import services as keys
from keys.models import AccessKey, KeyDelivery
from keys.tasks import access_key_issue_task
from provisioning import aws
from provisioning.aws import access_keys_list, aws_client
from tests.factories import force_login_with_mfa, iam_user_grant
from tests.fixtures.substrate_repo import build_repo
from tests.services import free_port

pytestmark = pytest.mark.django_db

USER = "orbit-ci"  # the IAM user is named after the vendor's slug
CONTACT = "keys@orbit.example"
TOKEN_IN_LINK = re.compile(r"/keys/([A-Za-z0-9_-]{43})/")


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_server():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def aws_endpoint(moto_server, settings):
    settings.AWS_ENDPOINT_URL = moto_server
    settings.AWS_ADMIN_ROLE_ARN = ""
    settings.PORTAL_BASE_URL = "https://portal.example"
    _reset(moto_server)
    return moto_server


@pytest.fixture
def grant(aws_endpoint, engineer, security) -> AccessRequest:
    """An active IAM-user grant of Orbit CI, whose key contact is CONTACT."""
    return iam_user_grant(engineer, key_contact=CONTACT)


@pytest.fixture
def iam_user(grant) -> str:
    aws_client("iam").create_user(UserName=USER)
    return USER


@pytest.fixture
def substrate_repo(tmp_path, settings):
    """A local Substrate repository, for the revocation pull request a revoke proposes (its
    own tests are in test_revocation.py; here it only has to be possible)."""
    tree = build_repo(tmp_path / "substrate", version="2024.08")
    files = {
        p.relative_to(tree.root).as_posix(): p.read_text()
        for p in sorted(tree.root.rglob("*"))
        if p.is_file()
    }
    create_bare_repository(tmp_path / "substrate.git", files, branch="main")
    settings.VAR_DIR = tmp_path / "var"
    settings.FORGE = "local"
    settings.SUBSTRATE_REPO_URL = str(tmp_path / "substrate.git")
    settings.SUBSTRATE_DEFAULT_BRANCH = "main"


def _issue(grant, callbacks) -> AccessKey:
    with callbacks(execute=True):
        row = keys.access_key_issue(request_id=grant.pk)
    assert row is not None
    return row


def _aws_key_ids() -> set[str]:
    return {key.id for key in access_keys_list(USER)}


def _aws_active() -> dict[str, bool]:
    return {key.id: key.active for key in access_keys_list(USER)}


def _links() -> list:
    """The key link e-mails sent to the vendor's key contact, oldest first (the notices that
    a link went out or was used go to the requester and security besides)."""
    return [m for m in mail.outbox if TOKEN_IN_LINK.search(str(m.body))]


def _token(message) -> str:
    found = TOKEN_IN_LINK.search(message.body)
    assert found, message.body
    return found.group(1)


def _reveal(client, token: str) -> tuple[str, str]:
    """POSTs the one-time link like the vendor's browser; returns (key id, secret)."""
    response = client.post(reverse("approvals:key_link", kwargs={"token": token}))
    assert response.status_code == 200
    html = response.content.decode()
    key_id = re.search(r'data-testid="access-key-id">([A-Z0-9]+)<', html)
    secret = re.search(r'data-testid="secret-access-key">([^<]+)<', html)
    assert key_id
    assert secret
    return key_id.group(1), secret.group(1)


# --- Issuing ------------------------------------------------------------------------------------


def test_issue_creates_one_key_stores_it_encrypted_and_emails_only_a_link(
    grant, iam_user, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)

    assert row is not None
    assert row.status == AccessKey.Status.ACTIVE
    assert _aws_key_ids() == {row.access_key_id}
    delivery = KeyDelivery.objects.get(access_key=row)
    assert delivery.recipient == CONTACT
    assert delivery.ciphertext is not None
    assert delivery.sent_at is not None
    assert delivery.expires_at - timezone.now() > timedelta(hours=71)
    [message] = _links()
    assert message.to == [CONTACT]
    token = _token(message)
    assert f"https://portal.example/keys/{token}/" in message.body
    assert token not in (delivery.token_hash or "")  # only its hash is stored
    assert row.access_key_id not in message.body  # the e-mail carries the link, nothing else
    actions = set(
        AuditEvent.objects.filter(object_id=str(grant.pk)).values_list("action", flat=True)
    )
    assert {"key.issue", "key.link_sent"} <= actions


def test_a_duplicate_or_repeated_issue_creates_no_second_key(
    grant, iam_user, django_capture_on_commit_callbacks
):
    first = _issue(grant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_key_issue(request_id=grant.pk) is None
    with django_capture_on_commit_callbacks(execute=True):
        access_key_issue_task.delay(grant.pk)
        assert keys.access_keys_issue_due() == 0
    assert _aws_key_ids() == {first.access_key_id}
    assert AccessKey.objects.count() == 1
    assert len(_links()) == 1


def test_a_key_the_database_does_not_know_is_deleted_before_a_new_one_is_created(
    grant, iam_user, django_capture_on_commit_callbacks
):
    """A worker killed between CreateAccessKey and saving: the retry finds the pending row
    (its claim lapsed) and an unknown key in AWS, whose secret is lost. It never ends with
    two keys, let alone three."""
    client = aws_client("iam")
    orphans = {client.create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"] for _ in "ab"}
    AccessKey.objects.create(
        access_request=grant,
        user_name=USER,
        claimed_until=timezone.now() - timedelta(seconds=1),
    )

    row = _issue(grant, django_capture_on_commit_callbacks)

    assert row.status == AccessKey.Status.ACTIVE
    assert _aws_key_ids() == {row.access_key_id}
    assert row.access_key_id not in orphans
    assert AccessKey.objects.count() == 1  # the pending row became the key


def test_a_claimed_pending_key_is_left_to_the_worker_holding_it(
    grant, iam_user, django_capture_on_commit_callbacks
):
    AccessKey.objects.create(
        access_request=grant, user_name=USER, claimed_until=timezone.now() + timedelta(minutes=5)
    )
    row = _issue(grant, django_capture_on_commit_callbacks)
    assert row.status == AccessKey.Status.PENDING
    assert _aws_key_ids() == set()


def test_the_key_waits_for_the_iam_user_then_the_poll_issues_it(
    grant, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    assert row.status == AccessKey.Status.PENDING
    assert "Waiting for the IAM user orbit-ci" in row.last_error
    assert mail.outbox == []

    aws_client("iam").create_user(UserName=USER)  # someone applied the merged Terraform
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_issue_due() == 1
    row.refresh_from_db()
    assert row.status == AccessKey.Status.ACTIVE
    assert _aws_key_ids() == {row.access_key_id}
    assert len(_links()) == 1


def test_without_a_key_contact_nothing_is_created(
    grant, iam_user, django_capture_on_commit_callbacks
):
    grant.vendor.contacts.update(receives_access_keys=False)
    row = _issue(grant, django_capture_on_commit_callbacks)
    assert row.status == AccessKey.Status.PENDING
    assert "contact who receives access keys" in row.last_error
    assert _aws_key_ids() == set()


def test_the_two_key_limit_fails_the_key_with_the_reason(
    grant, iam_user, django_capture_on_commit_callbacks
):
    first = _issue(grant, django_capture_on_commit_callbacks)
    # A second key the portal knows (a rotation already under way, say): the limit is reached.
    other = aws_client("iam").create_access_key(UserName=USER)["AccessKey"]["AccessKeyId"]
    AccessKey.objects.create(
        access_request=grant, user_name=USER, access_key_id=other, status="active"
    )

    with django_capture_on_commit_callbacks(execute=True):
        row = keys.access_key_issue(request_id=grant.pk, replaces_id=first.pk)

    assert row is not None
    assert row.status == AccessKey.Status.FAILED
    assert "limit is 2" in row.last_error
    assert _aws_key_ids() == {first.access_key_id, other}
    assert AuditEvent.objects.filter(action="key.issue_fail", object_id=str(grant.pk)).exists()


class _Throttling(BaseHTTPRequestHandler):
    """Answers every AWS query as IAM does when it throttles."""

    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (
            b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>1</RequestId></ErrorResponse>"
        )
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling_endpoint(monkeypatch):
    # One attempt per call: boto3's own backoff would only make the test slow.
    monkeypatch.setattr(
        aws, "_BOTO_CONFIG", BotoConfig(retries={"max_attempts": 1, "mode": "standard"})
    )
    _Throttling.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_throttling_is_temporary_and_the_retry_issues_exactly_one_key(
    grant, iam_user, settings, throttling_endpoint, django_capture_on_commit_callbacks
):
    moto = settings.AWS_ENDPOINT_URL
    settings.AWS_ENDPOINT_URL = throttling_endpoint
    with pytest.raises(keys.AccessKeyTemporaryError, match="Throttling"):
        _issue(grant, django_capture_on_commit_callbacks)
    row = AccessKey.objects.get(access_request=grant)
    assert (row.status, row.attempts, row.claimed_until) == ("pending", 1, None)
    assert "Throttling" in row.last_error

    settings.AWS_ENDPOINT_URL = moto  # AWS recovered
    row = _issue(grant, django_capture_on_commit_callbacks)
    assert row.status == AccessKey.Status.ACTIVE
    assert _aws_key_ids() == {row.access_key_id}


def test_the_task_retries_with_backoff_then_fails_with_the_reason(
    grant, iam_user, settings, throttling_endpoint, django_capture_on_commit_callbacks
):
    settings.AWS_ENDPOINT_URL = throttling_endpoint
    with pytest.raises(Retry) as first:
        access_key_issue_task.delay(grant.pk)
    assert first.value.when == 10.0  # the first backoff step
    assert AccessKey.objects.get(access_request=grant).status == AccessKey.Status.PENDING

    # The last retry gives up: the key fails with the reason, and security hears about it.
    with django_capture_on_commit_callbacks(execute=True):
        access_key_issue_task.apply(args=(grant.pk,), retries=access_key_issue_task.max_retries)
    row = AccessKey.objects.get(access_request=grant)
    assert row.status == AccessKey.Status.FAILED
    assert row.last_error.startswith("Gave up after repeated AWS errors")
    assert "Throttling" in row.last_error
    assert _Throttling.calls >= 2  # one attempt per task run reached AWS
    [notice] = mail.outbox
    assert "could not get its access key" in notice.subject


# --- The one-time link --------------------------------------------------------------------------


def test_get_confirms_post_reveals_once_then_the_link_is_dead(
    client, grant, iam_user, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    token = _token(_links()[0])
    url = reverse("approvals:key_link", kwargs={"token": token})

    for _ in range(2):  # a mail scanner's prefetch consumes nothing
        response = client.get(url)
        assert response.status_code == 200
        assert b'data-testid="key-confirm"' in response.content
        assert "no-store" in response["Cache-Control"]
        assert response["Referrer-Policy"] == "no-referrer"
    assert KeyDelivery.objects.get(access_key=row).ciphertext is not None

    key_id, secret = _reveal(client, token)
    assert key_id == row.access_key_id
    assert len(secret) == 40
    delivery = KeyDelivery.objects.get(access_key=row)
    assert delivery.ciphertext is None
    assert delivery.revealed_at is not None
    assert AuditEvent.objects.filter(action="key.reveal", object_id=str(grant.pk)).exists()
    # The secret works: AWS accepts it.
    sts = boto3.client(
        "sts",
        endpoint_url=grant and aws_endpoint_url(),
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{USER}")

    neutral = client.get(reverse("approvals:key_link", kwargs={"token": "A" * 43})).content
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 404
        assert response.content == neutral
        assert secret.encode() not in response.content
        assert "no-store" in response["Cache-Control"]


def aws_endpoint_url() -> str:
    from django.conf import settings

    return settings.AWS_ENDPOINT_URL


def test_the_reveal_works_from_a_browser_sending_no_referrer_and_no_cookie(
    grant, iam_user, django_capture_on_commit_callbacks
):
    """With `Referrer-Policy: no-referrer` browsers POST the form with `Origin: null` and no
    CSRF cookie: the token in the URL is the credential, so the page needs neither."""
    from django.test import Client

    _issue(grant, django_capture_on_commit_callbacks)
    url = reverse("approvals:key_link", kwargs={"token": _token(_links()[0])})
    response = Client(enforce_csrf_checks=True).post(url, headers={"Origin": "null"})
    assert response.status_code == 200
    assert b'data-testid="secret-access-key"' in response.content
    assert "csrftoken" not in response.cookies
    assert KeyDelivery.objects.get().ciphertext is None


def test_too_many_link_requests_from_one_address_are_refused(client, settings, db):
    settings.PORTAL_KEY_LINK_RATE = 3
    url = reverse("approvals:key_link", kwargs={"token": "B" * 43})
    assert [client.get(url).status_code for _ in range(4)] == [404, 404, 404, 429]


def test_link_paths_are_logged_without_their_token(client, caplog, db):
    token = "C" * 43
    with caplog.at_level(logging.INFO):
        assert client.get(reverse("approvals:key_link", kwargs={"token": token})).status_code == 404
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/keys/[redacted]/" in logged  # Django's "Not Found" warning, redacted
    assert token not in logged


# --- Expiry, re-issue, revocation ----------------------------------------------------------------


def test_an_unrevealed_secret_is_wiped_at_expiry_and_the_key_deactivated(
    client, grant, iam_user, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    token = _token(_links()[0])
    KeyDelivery.objects.filter(access_key=row).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert keys.access_keys_sweep() == {"expired": 1, "deactivated": 1, "deleted": 0}

    delivery = KeyDelivery.objects.get(access_key=row)
    assert delivery.ciphertext is None
    assert delivery.wipe_reason == "expired"
    row.refresh_from_db()
    assert row.status == AccessKey.Status.INACTIVE
    assert _aws_active() == {row.access_key_id: False}
    url = reverse("approvals:key_link", kwargs={"token": token})
    assert client.post(url).status_code == 404
    assert keys.access_keys_sweep() == {"expired": 0, "deactivated": 0, "deleted": 0}


def test_reissue_is_an_mfa_gated_security_action_that_replaces_the_key(
    client, grant, iam_user, security, engineer, django_capture_on_commit_callbacks
):
    old = _issue(grant, django_capture_on_commit_callbacks)
    old_token = _token(_links()[0])
    with pytest.raises(PermissionDenied):
        keys.access_key_reissue(request_id=grant.pk, actor=security, mfa_verified=False)
    with pytest.raises(PermissionDenied):
        keys.access_key_reissue(request_id=grant.pk, actor=engineer, mfa_verified=True)

    with django_capture_on_commit_callbacks(execute=True):
        keys.access_key_reissue(request_id=grant.pk, actor=security, mfa_verified=True)

    old.refresh_from_db()
    new = AccessKey.objects.get(access_request=grant, status="active")
    assert old.status == AccessKey.Status.DELETED
    assert _aws_key_ids() == {new.access_key_id}
    assert len(_links()) == 2
    assert (
        client.post(reverse("approvals:key_link", kwargs={"token": old_token})).status_code == 404
    )
    assert _reveal(client, _token(_links()[1]))[0] == new.access_key_id
    event = AuditEvent.objects.get(action="key.reissue", object_id=str(grant.pk))
    assert event.actor_id == security.pk


def test_reissue_from_the_request_page(
    client, grant, iam_user, security, django_capture_on_commit_callbacks
):
    _issue(grant, django_capture_on_commit_callbacks)
    client.force_login(security)
    page = client.get(reverse("approvals:request_detail", kwargs={"pk": grant.pk})).content.decode()
    assert 'data-testid="access-keys"' in page
    assert "Re-issue the key" in page
    assert "sent to keys@orbit.example" in page
    # Without a second factor in this session, the service refuses and says why.
    response = client.post(
        reverse("approvals:request_key_reissue", kwargs={"pk": grant.pk}), follow=True
    )
    assert "second factor" in response.content.decode()
    assert AccessKey.objects.filter(status="active").count() == 1


def test_revocation_deactivates_at_once_and_the_merge_deletes(
    grant, iam_user, security, substrate_repo, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        revocation.request_revoke(
            request_id=grant.pk, actor=security, mfa_verified=True, reason="Contract ended"
        )
    row.refresh_from_db()
    assert row.status == AccessKey.Status.INACTIVE
    assert _aws_active() == {row.access_key_id: False}
    assert KeyDelivery.objects.get(access_key=row).ciphertext is None  # unrevealed: wiped

    assert keys.access_keys_delete_for_request(request_id=grant.pk) == 1
    row.refresh_from_db()
    assert row.status == AccessKey.Status.DELETED
    assert _aws_key_ids() == set()
    assert keys.access_keys_delete_for_request(request_id=grant.pk) == 0  # idempotent
    # A revoked grant gets no new key from the poll.
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_issue_due() == 0
    assert _aws_key_ids() == set()


def test_a_pending_key_superseded_by_the_revocation_fails_without_a_notice(
    grant, django_capture_on_commit_callbacks
):
    pending = AccessKey.objects.create(access_request=grant, user_name=USER)
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_deactivate_for_request(request_id=grant.pk) == 0
    pending.refresh_from_db()
    assert pending.status == AccessKey.Status.FAILED
    assert pending.delete_requested_at is not None
    assert pending.last_error == "The access was revoked."
    assert mail.outbox == []  # security revoked it: no "could not get its access key"


def test_an_offboarded_vendors_keys_are_deactivated_by_the_sweep(
    grant, iam_user, security, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    revocation.vendor_offboard(vendor_id=grant.vendor_id, actor=security, mfa_verified=True)
    assert keys.access_keys_sweep()["deactivated"] == 1
    assert _aws_active() == {row.access_key_id: False}


# --- Hygiene ------------------------------------------------------------------------------------


def test_rotation_delivers_a_second_key_and_retires_the_old_one_once_the_new_is_used(
    client, grant, iam_user, django_capture_on_commit_callbacks
):
    old = _issue(grant, django_capture_on_commit_callbacks)
    # 91 days old and in daily use (so not flagged as unused meanwhile).
    AccessKey.objects.filter(pk=old.pk).update(
        aws_created_at=timezone.now() - timedelta(days=91),
        last_used_at=timezone.now() - timedelta(days=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_hygiene()["started"] == 1
        assert keys.access_keys_hygiene()["started"] == 0  # one rotation at a time
    new = AccessKey.objects.get(replaces=old)
    assert _aws_active() == {old.access_key_id: True, new.access_key_id: True}
    assert len(_links()) == 2

    # The vendor switches to the new key: AWS records its use, the portal sees it.
    key_id, secret = _reveal(client, _token(_links()[1]))
    boto3.client(
        "sts",
        endpoint_url=aws_endpoint_url(),
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    ).get_caller_identity()
    result = keys.access_keys_hygiene()
    assert result["retired"] == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.last_used_at is not None
    assert new.last_used_service == "sts"
    assert old.status == AccessKey.Status.INACTIVE
    assert _aws_active() == {old.access_key_id: False, new.access_key_id: True}

    AccessKey.objects.filter(pk=old.pk).update(deactivated_at=timezone.now() - timedelta(days=8))
    assert keys.access_keys_hygiene()["deleted"] == 1
    assert _aws_key_ids() == {new.access_key_id}


def test_keys_unused_for_45_days_are_flagged_to_security_once(
    grant, iam_user, security, django_capture_on_commit_callbacks
):
    row = _issue(grant, django_capture_on_commit_callbacks)
    AccessKey.objects.filter(pk=row.pk).update(aws_created_at=timezone.now() - timedelta(days=46))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_flag_unused() == 1
        assert keys.access_keys_flag_unused() == 0
    row.refresh_from_db()
    assert row.unused_flagged_at is not None
    assert AuditEvent.objects.filter(action="key.flag_unused", object_id=str(grant.pk)).count() == 1
    [notice] = mail.outbox
    assert notice.to == [security.email]
    assert "unused" in notice.subject
    assert row.access_key_id not in str(notice.body)


def test_last_use_is_read_from_aws(grant, iam_user, django_capture_on_commit_callbacks):
    row = _issue(grant, django_capture_on_commit_callbacks)
    assert keys.access_keys_refresh_last_used() == 1
    row.refresh_from_db()
    assert row.last_used_checked_at is not None
    assert row.last_used_at is None


def test_reencrypting_under_a_new_encryption_key(
    client, grant, iam_user, settings, django_capture_on_commit_callbacks
):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old_key]
    _issue(grant, django_capture_on_commit_callbacks)
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key, old_key]
    assert keys.key_secrets_reencrypt() == 1
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]  # the old key is dropped
    _key_id, secret = _reveal(client, _token(_links()[0]))
    assert len(secret) == 40


# --- Secrets stay secret ------------------------------------------------------------------------


def _database_text() -> str:
    """Every row of every table, as text (bytea as its bytes): what a dump would hold."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalogue
            for record in cursor.fetchall():
                for value in record:
                    if isinstance(value, memoryview | bytes):
                        chunks.append(bytes(value).decode("latin-1"))
                    elif value is not None:
                        chunks.append(str(value))
    return "\n".join(chunks)


def test_the_secret_and_the_token_appear_nowhere_but_the_reveal_and_the_mail(
    client, grant, iam_user, security, substrate_repo, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    _issue(grant, django_capture_on_commit_callbacks)
    token = _token(_links()[0])
    key_id, secret = _reveal(client, token)
    with django_capture_on_commit_callbacks(execute=True):
        keys.access_keys_hygiene()
        keys.access_keys_sweep()
        revocation.request_revoke(
            request_id=grant.pk, actor=security, mfa_verified=True, reason="done"
        )
    force_login_with_mfa(client, security)
    page = client.get(reverse("approvals:request_detail", kwargs={"pk": grant.pk})).content
    key_pk = AccessKey.objects.get(access_key_id=key_id).pk
    admin_pages = [
        client.get(reverse("admin:keys_accesskey_changelist")),
        client.get(reverse("admin:keys_accesskey_change", args=[key_pk])),
    ]
    assert [r.status_code for r in admin_pages] == [200, 200]
    assert b"revealed (to keys@orbit.example" in admin_pages[1].content
    page += b"".join(r.content for r in admin_pages)

    dump = _database_text()
    assert key_id in dump  # the search works: the key id is stored
    assert secret not in dump
    assert token not in dump
    for message in mail.outbox:
        texts = [message.subject, message.body]
        texts += [str(a[0]) for a in getattr(message, "alternatives", [])]
        assert not any(secret in text for text in texts)
    assert token in mail.outbox[0].body  # the link is the one thing the e-mail carries
    assert not any(token in m.body for m in mail.outbox[1:])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged
    assert token not in logged
    assert secret.encode() not in page
    assert key_id.encode() not in page


def test_the_requester_and_security_hear_the_link_went_out_and_was_used_and_nothing_more(
    client, grant, iam_user, engineer, security, django_capture_on_commit_callbacks
):
    _issue(grant, django_capture_on_commit_callbacks)
    [link] = _links()
    token = _token(link)
    delivered = [m for m in mail.outbox if m is not link]
    assert sorted(m.to for m in delivered) == [[engineer.email], [security.email]]
    for message in delivered:
        assert "had its access key link sent to the vendor" in message.subject
        assert "key contact" in message.body
    mail.outbox.clear()

    # Queued inside the reveal's transaction: nothing leaves before it commits.
    with django_capture_on_commit_callbacks(execute=False) as pending:
        key_id, secret = _reveal(client, token)
    assert mail.outbox == []
    for callback in pending:
        callback()
    assert sorted(m.to for m in mail.outbox) == [[engineer.email], [security.email]]
    revealed = list(mail.outbox)
    for message in revealed:
        assert "had its access key shown to the vendor" in message.subject
    row = AccessKey.objects.get(access_request=grant)
    for message in delivered + revealed:
        everything = message.message().as_string() + str(message.body)
        everything += "".join(str(a[0]) for a in getattr(message, "alternatives", []))
        for forbidden in (key_id, row.masked_id, secret, token, CONTACT, "/keys/"):
            assert forbidden not in everything, forbidden


def test_a_reveal_that_fails_tells_nobody(
    client, grant, iam_user, django_capture_on_commit_callbacks
):
    _issue(grant, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    url = reverse("approvals:key_link", kwargs={"token": "D" * 43})
    assert client.post(url).status_code == 404
    assert mail.outbox == []


# --- The demo -----------------------------------------------------------------------------------


def test_the_demo_grant_gets_its_key_as_soon_as_the_worker_polls(
    aws_endpoint, django_capture_on_commit_callbacks
):
    from demo.aws_org import KEY_DEMO_VENDOR_SLUG
    from demo.requests import seed_demo_key_grant
    from demo.users import seed_demo_users
    from demo.vendors import seed_demo_vendors
    from provisioning.aws import iam_user_seed

    seed_demo_users()
    seed_demo_vendors()
    grant = seed_demo_key_grant()
    assert grant is not None
    assert (grant.status, grant.strategy) == ("active", "iam_user")
    assert grant.pull_requests.get().state == "merged"
    assert not grant.access_keys.exists()
    assert seed_demo_key_grant() is None  # seeding again adds nothing
    assert AuditEvent.objects.filter(action="request.activate", object_id=str(grant.pk)).exists()

    assert iam_user_seed(KEY_DEMO_VENDOR_SLUG)  # what `manage.py aws_emulator` does
    assert not iam_user_seed(KEY_DEMO_VENDOR_SLUG)
    with django_capture_on_commit_callbacks(execute=True):
        assert keys.access_keys_issue_due() == 1
    [message] = _links()
    assert message.to == [grant.vendor.contacts.get(receives_access_keys=True).email]
    assert TOKEN_IN_LINK.search(str(message.body))


def test_selectors_for_the_vendor_page_and_the_security_dashboard(
    grant, iam_user, django_capture_on_commit_callbacks
):
    from keys.selectors import access_keys_for_vendor, access_keys_needing_attention

    row = _issue(grant, django_capture_on_commit_callbacks)
    assert [k.pk for k in access_keys_for_vendor(grant.vendor_id)] == [row.pk]
    assert list(access_keys_needing_attention()) == []
    AccessKey.objects.filter(pk=row.pk).update(aws_created_at=timezone.now() - timedelta(days=91))
    assert [k.pk for k in access_keys_needing_attention()] == [row.pk]  # rotation due
