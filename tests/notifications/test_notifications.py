"""Notices about access requests: recipients, content, escaping, secrecy, commit, Slack, retries.

E-mail goes to Django's locmem outbox; Slack to a real HTTP server on loopback. Celery runs
eagerly, so a task's retries happen inline and each attempt is observable.
"""

from __future__ import annotations

import json
import logging
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.mail.backends import locmem
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accessportal.effects import (
    notify_external_access_on_commit,
    notify_key_recipient_change_on_commit,
    notify_on_commit,
    notify_vendor_on_commit,
)
from accessportal.roles import Role
from approvals import requests as services
from approvals import rules
from approvals.models import AccessRequest, Approval
from notifications.services import notice_email_send
from notifications.tasks import (
    notice_email_task,
    notice_slack_task,
    vendor_notice_email_task,
    vendor_notice_slack_task,
)
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services
from vendors.models import KeyRecipientChange, Vendor

pytestmark = pytest.mark.django_db

# Known values that must never reach a notice: the request page shows them, e-mail does not.
EXTERNAL_ID = "KnownExternalId-7f3a9c2e1b5d"
PRINCIPAL = "arn:aws:iam::210987654321:role/KnownVendorRole"
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SECRETS = (EXTERNAL_ID, PRINCIPAL, "210987654321", POLICY_ARN, "111122223333")
HOSTILE_NAME = "<script>alert(1)</script> Co\r\nBcc: attacker@example.com"

SECURITY_ADDRESSES = ["sam@example.com", "sasha@example.com"]
REQUESTER_ADDRESSES = ["erin@example.com"]
# Who hears about what (issue 5), written out rather than derived from the code under test.
EXPECTED_RECIPIENTS: dict[str, list[list[str]]] = {
    "submitted": [SECURITY_ADDRESSES],
    "approval_recorded": [REQUESTER_ADDRESSES],
    "approved": [REQUESTER_ADDRESSES],
    "rejected": [REQUESTER_ADDRESSES],
    "withdrawn": [SECURITY_ADDRESSES],
    "revoked": [REQUESTER_ADDRESSES],
    "provisioning": [REQUESTER_ADDRESSES],
    "pr_open": [REQUESTER_ADDRESSES],
    "active": [REQUESTER_ADDRESSES],
    "failed": [REQUESTER_ADDRESSES, SECURITY_ADDRESSES],
}
SUBJECT_WORDS = {
    "submitted": "submitted for approval",
    "approval_recorded": "received an approval",
    "approved": "approved",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "revoked": "revoked",
    "provisioning": "is being provisioned",
    "pr_open": "has its pull request open",
    "active": "has its change merged",
    "failed": "failed to provision",
}
EVENT_STATUS = {
    "submitted": "submitted",
    "approval_recorded": "submitted",
    "approved": "approved",
    "rejected": "rejected",
    "withdrawn": "withdrawn",
    "revoked": "revoked",
    "provisioning": "provisioning",
    "pr_open": "pr_open",
    "active": "active",
    "failed": "failed",
}


# --- People and a request ----------------------------------------------------------------------


@pytest.fixture
def engineer(db):
    # The requester is on the security team too: security's notices must still skip them.
    return member("erin", Role.SECURITY)


def member(username: str, *roles: str, email: str | None = None, is_active: bool = True) -> Any:
    """A user without a password: hashing one per person would dominate these tests' time."""
    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@example.com" if email is None else email,
        is_active=is_active,
    )
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def people(engineer):
    sam = member("sam", Role.SECURITY)
    member("sasha", Role.SECURITY)
    member("sid", Role.SECURITY, is_active=False)  # left the company
    member("sue", Role.SECURITY, email="")  # no address: skipped
    member("omar")  # not on the security team
    return {"requester": engineer, "approver": sam}


def make_request(engineer: Any, **vendor_overrides: Any) -> AccessRequest:
    vendor = vendor_services.vendor_create(
        actor=engineer, data=vendor_data(engineer, **vendor_overrides)
    )
    data = {
        "vendor": vendor,
        "strategy": "role_per_account",
        "principals": PRINCIPAL,
        "external_id": EXTERNAL_ID,
        "domains": ["payments"],
        "environments": ["*"],
        "qualities": ["*"],
        "role_name": "",
        "policy_source": "managed",
        "managed_policy_arns": [POLICY_ARN],
        "justification": "Nightly scan.",
        "expires_on": timezone.localdate() + timedelta(days=30),
    }
    return services.request_save(actor=engineer, data=data)


@pytest.fixture
def access_request(engineer, people, account):
    r = make_request(engineer)
    assert (r.external_id, r.principals) == (EXTERNAL_ID, [PRINCIPAL])
    return r


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    """Runs notify_on_commit in a transaction that commits; returns the callbacks run."""

    def run(r: AccessRequest, event: str, **kwargs: Any) -> list[Any]:
        if event in EVENT_STATUS:  # the state the request is in when a service emits `event`
            AccessRequest.objects.filter(pk=r.pk).update(status=EVENT_STATUS[event])
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            notify_on_commit(access_request_id=r.pk, event=event, **kwargs)
        return callbacks

    return run


def link(r: AccessRequest) -> str:
    return "https://portal.example.com" + reverse("approvals:request_detail", args=[r.pk])


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.PORTAL_SLACK_WEBHOOK_URL = ""
    settings.PORTAL_NOTIFY_SECURITY_EMAILS = []


def html_of(message: Any) -> str:
    content, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    return str(content)


def everything_in(message: Any) -> str:
    """Every byte the recipient gets: headers, plain text and HTML."""
    return message.message().as_string() + message.body + html_of(message)


# --- A Slack webhook on loopback and a mail server that fails on demand -------------------------


class SlackFake:
    """Records each POST; answers with the queued statuses, then 200 "ok"."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.answered: list[int] = []

    def texts(self) -> list[str]:
        return [post["json"]["text"] for post in self.posts]


@pytest.fixture
def slack(settings) -> Iterator[SlackFake]:
    fake = SlackFake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.posts.append(
                {
                    "path": self.path,
                    "content_type": self.headers["Content-Type"],
                    "json": json.loads(body),
                }
            )
            status = fake.statuses.pop(0) if fake.statuses else 200
            fake.answered.append(status)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.PORTAL_SLACK_WEBHOOK_URL = (
        f"http://127.0.0.1:{server.server_port}/services/T000/B000/webhook-token"
    )
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class FlakyEmailBackend(locmem.EmailBackend):
    """The locmem backend, except that the first `failures` sends raise SMTPException."""

    failures = 0
    attempts = 0

    def send_messages(self, messages: Any) -> int:
        FlakyEmailBackend.attempts += 1
        if FlakyEmailBackend.failures:
            FlakyEmailBackend.failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def worker_retries(monkeypatch) -> None:
    """Retries as a worker runs them. With eager propagation on (the project's test setting),
    Celery raises a task's Retry to the caller instead of running the next attempt."""
    from accessportal.celery import app

    monkeypatch.setitem(app.conf, "task_eager_propagates", False)


@pytest.fixture
def flaky_mail(settings) -> type[FlakyEmailBackend]:
    FlakyEmailBackend.failures = 0
    FlakyEmailBackend.attempts = 0
    settings.EMAIL_BACKEND = f"{__name__}.FlakyEmailBackend"
    return FlakyEmailBackend


# --- Recipients and content ---------------------------------------------------------------------


@pytest.mark.parametrize("event", sorted(EXPECTED_RECIPIENTS))
def test_each_event_reaches_its_audience_with_vendor_and_absolute_link(
    event, access_request, people, notify
):
    r = access_request
    notify(r, event, actor_id=people["approver"].pk)

    assert sorted(sorted(m.to) for m in mail.outbox) == sorted(EXPECTED_RECIPIENTS[event])
    for message in mail.outbox:
        assert message.subject == (
            f"[Vendor access] Request #{r.pk} for Orbit CI {SUBJECT_WORDS[event]}"
        )
        assert message.from_email == "Vendor access portal <portal@localhost>"
        assert message.extra_headers["Auto-Submitted"] == "auto-generated"
        for body in (message.body, html_of(message)):
            assert "Orbit CI" in body
            assert link(r) in body
            assert str(AccessRequest.Status(EVENT_STATUS[event]).label) in body
            assert "A role in each selected account" in body  # the strategy's label
            assert "erin" in body  # who asked
        assert f'href="{link(r)}"' in html_of(message)


def test_security_notices_skip_the_requester_inactive_and_addressless_members(
    access_request, notify
):
    notify(access_request, "submitted")
    (message,) = mail.outbox
    assert message.to == SECURITY_ADDRESSES  # not erin (the requester), sid, sue or omar
    assert "you are on the security team" in message.body


def test_an_address_list_replaces_the_group_but_still_skips_the_requester(
    access_request, notify, settings
):
    settings.PORTAL_NOTIFY_SECURITY_EMAILS = ["secops@example.com", "Erin@example.com"]
    notify(access_request, "withdrawn")
    assert [m.to for m in mail.outbox] == [["secops@example.com"]]


def test_no_recipient_means_no_message(access_request, engineer, notify, caplog):
    get_user_model().objects.filter(pk=engineer.pk).update(email="")
    with caplog.at_level(logging.INFO, logger="notifications.services"):
        notify(access_request, "approved")
    assert mail.outbox == []
    assert "No requester address" in caplog.text


def test_rejection_shows_the_comment_escaped_in_html_and_slack(
    access_request, people, notify, slack
):
    comment = "Too broad: <b>narrow</b> it & resubmit.\nSee the policy checks."
    notify(access_request, "rejected", actor_id=people["approver"].pk, comment=comment)

    (message,) = mail.outbox
    assert "Comment from sam:" in message.body
    assert comment in message.body  # plain text keeps it as written
    html = html_of(message)
    assert "Too broad: &lt;b&gt;narrow&lt;/b&gt; it &amp; resubmit.<br>See the policy" in html
    assert "<b>narrow</b>" not in html
    (text,) = slack.texts()
    assert "> Too broad: &lt;b&gt;narrow&lt;/b&gt; it &amp; resubmit.\n> See the policy" in text
    assert "rejected* by sam" in text


def test_a_hostile_vendor_name_is_escaped_and_cannot_inject_headers(
    engineer, people, account, notify, slack
):
    r = make_request(engineer, name="<script>alert(1)</script> Co", slug="hostile-co")
    # The vendor services refuse line breaks in names now; one stored before (or written past
    # them) must still be harmless in the notices.
    Vendor.objects.filter(pk=r.vendor_id).update(name=HOSTILE_NAME)
    r.refresh_from_db()
    notify(r, "approved", actor_id=people["approver"].pk)

    (message,) = mail.outbox
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    assert message.subject.startswith(f"[Vendor access] Request #{r.pk} for <script>")
    rendered = message.message()  # would raise BadHeaderError on a header with a newline
    assert rendered["Bcc"] is None
    assert message.recipients() == REQUESTER_ADDRESSES
    html = html_of(message)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Co" in html
    assert "<script>" not in html
    (text,) = slack.texts()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Co Bcc: attacker@example.com" in text
    assert "<script>" not in text


def test_no_notice_carries_the_external_id_principal_policy_or_accounts(
    access_request, people, notify, slack, monkeypatch
):
    task_arguments: list[tuple[Any, ...]] = []
    for task in (notice_email_task, notice_slack_task):
        original = task.delay

        def recording(*args: Any, _original: Any = original) -> Any:
            task_arguments.append(args)
            return _original(*args)

        monkeypatch.setattr(task, "delay", recording)

    for event in EXPECTED_RECIPIENTS:
        notify(access_request, event, actor_id=people["approver"].pk, comment="Fine.")

    assert len(mail.outbox) == 11  # ten events, "failed" twice
    assert len(slack.posts) == 10
    sent = [everything_in(m) for m in mail.outbox] + [json.dumps(p["json"]) for p in slack.posts]
    for secret in SECRETS:
        assert not [text for text in sent if secret in text], secret
    # Nothing else crosses the broker either: ids, the event, the audience, the comment.
    assert len(task_arguments) == 21
    for args in task_arguments:
        assert args[0] == access_request.pk
        assert not any(secret in repr(args) for secret in SECRETS)
    assert ("approved", "requester", people["approver"].pk, "Fine.") in [
        args[1:] for args in task_arguments
    ]


# --- After commit only, and never raising into the caller ---------------------------------------


def test_notices_leave_only_after_commit(access_request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        notify_on_commit(access_request_id=access_request.pk, event="approved")
        assert mail.outbox == []  # nothing before the commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1


def test_a_rolled_back_transition_sends_nothing(
    access_request, django_capture_on_commit_callbacks, slack
):
    def failing_transition() -> None:
        with transaction.atomic():
            notify_on_commit(access_request_id=access_request.pk, event="approved")
            raise RuntimeError("the transition failed after scheduling its notice")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        failing_transition()
    assert callbacks == []
    assert mail.outbox == []
    assert slack.posts == []


def test_an_unknown_event_is_ignored_with_a_warning(access_request, notify, caplog):
    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        callbacks = notify(access_request, "exploded")
    assert callbacks == []
    assert mail.outbox == []
    assert "Unknown notification event 'exploded'" in caplog.text


def test_a_broker_outage_is_logged_not_raised_and_other_channels_still_go(
    access_request, notify, slack, monkeypatch, caplog
):
    def broker_down(*args: Any) -> None:
        raise OperationalError("Error 111 connecting to redis")

    monkeypatch.setattr(notice_email_task, "delay", broker_down)
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        callbacks = notify(access_request, "approved")  # does not raise
    assert len(callbacks) == 2
    assert mail.outbox == []
    assert len(slack.posts) == 1  # the Slack task was queued independently
    assert "Could not queue notifications.tasks.notice_email_task" in caplog.text


def test_without_a_webhook_only_e_mail_is_scheduled(access_request, notify):
    callbacks = notify(access_request, "failed")
    assert len(callbacks) == 2  # requester and security e-mails, no Slack task
    assert len(mail.outbox) == 2


# --- Slack --------------------------------------------------------------------------------------


def test_slack_receives_a_json_text_with_the_facts_and_link(access_request, people, notify, slack):
    notify(access_request, "submitted", actor_id=people["requester"].pk)
    (post,) = slack.posts
    assert post["path"] == "/services/T000/B000/webhook-token"
    assert post["content_type"] == "application/json; charset=utf-8"
    assert list(post["json"]) == ["text"]
    r = access_request
    assert post["json"]["text"] == (
        f"*Request #{r.pk} for Orbit CI submitted for approval* by erin\n"
        f"Strategy: A role in each selected account · Status: Submitted, awaiting approval"
        f" · Risk: {r.get_risk_level_display()} · Requested by erin\n"
        f"<{link(r)}|Open request #{r.pk}>"
    )


@pytest.mark.usefixtures("worker_retries")
def test_a_failing_slack_does_not_prevent_the_e_mail(access_request, notify, slack, caplog):
    slack.statuses = [500] * 10
    with caplog.at_level(logging.ERROR):
        notify(access_request, "approved")  # does not raise
    assert len(mail.outbox) == 1
    assert slack.answered == [500] * 6  # the first try and five retries, then given up
    assert "Slack answered HTTP 500." in caplog.text  # the worker logs the final failure
    assert "webhook-token" not in caplog.text  # the URL embeds the webhook's token


@pytest.mark.usefixtures("worker_retries")
def test_a_failing_mail_server_does_not_prevent_the_slack_post(
    access_request, notify, slack, flaky_mail
):
    flaky_mail.failures = 100
    notify(access_request, "approved")  # does not raise
    assert flaky_mail.attempts == 6  # the first try and five retries, then given up
    assert mail.outbox == []
    assert len(slack.posts) == 1


def test_an_exhausted_task_under_eager_propagation_does_not_reach_the_caller(
    access_request, notify, slack, flaky_mail, caplog
):
    flaky_mail.failures = 100
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        notify(access_request, "approved")  # does not raise
    assert mail.outbox == []
    assert len(slack.posts) == 1
    assert "Could not queue notifications.tasks.notice_email_task" in caplog.text


def test_a_refused_webhook_is_not_retried(access_request, notify, slack, caplog):
    slack.statuses = [404]
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        notify(access_request, "approved")
    assert slack.answered == [404]
    assert "Slack refused the 'approved' notice" in caplog.text
    assert len(mail.outbox) == 1


def test_plain_http_to_another_host_is_never_used(access_request, notify, settings, caplog):
    settings.PORTAL_SLACK_WEBHOOK_URL = "http://hooks.example.invalid/services/webhook-token"
    with caplog.at_level(logging.ERROR, logger="notifications.services"):
        notify(access_request, "approved")
    assert "PORTAL_SLACK_WEBHOOK_URL is not an https URL" in caplog.text
    assert "Could not queue" not in caplog.text  # refused up front, not a failed connection
    assert len(mail.outbox) == 1


def test_settings_refuse_a_plain_http_webhook_without_echoing_it(tmp_path):
    import os

    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(tmp_path),
        "PORTAL_SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/T0/B0/webhook-token",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import accessportal.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "PORTAL_SLACK_WEBHOOK_URL must be an https:// URL." in result.stderr
    assert "webhook-token" not in result.stderr


# --- Retries ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("worker_retries")
def test_an_e_mail_retry_sends_each_channel_exactly_once(access_request, notify, slack, flaky_mail):
    flaky_mail.failures = 1
    notify(access_request, "approved")
    assert flaky_mail.attempts == 2
    assert len(mail.outbox) == 1
    assert len(slack.posts) == 1  # the e-mail's retry did not post to Slack again


@pytest.mark.usefixtures("worker_retries")
def test_a_slack_retry_sends_each_channel_exactly_once(access_request, notify, slack):
    slack.statuses = [503]
    notify(access_request, "failed")
    assert slack.answered == [503, 200]  # one accepted post
    assert slack.texts()[0] == slack.texts()[1]
    assert sorted(m.to for m in mail.outbox) == [REQUESTER_ADDRESSES, SECURITY_ADDRESSES]


def test_the_vendor_owner_audience_reaches_the_owner_only_while_active(access_request, people):
    owner = member("olga")
    Vendor.objects.filter(pk=access_request.vendor_id).update(internal_owner=owner)
    sent = notice_email_send(
        access_request_id=access_request.pk, event="expiring", audience="owner"
    )
    assert sent == 1
    (message,) = mail.outbox
    assert message.to == ["olga@example.com"]
    assert "you own this vendor" in message.body

    get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
    mail.outbox.clear()
    assert (
        notice_email_send(access_request_id=access_request.pk, event="expiring", audience="owner")
        == 0
    )
    assert mail.outbox == []


# --- Extensions, key links, reminders and lapses: every outcome is told (issue 18) ------------

# Who hears about what, written out rather than derived from the code under test.
OUTCOME_RECIPIENTS: dict[str, list[list[str]]] = {
    "extension_asked": [SECURITY_ADDRESSES],
    "extension_granted": [REQUESTER_ADDRESSES],
    "extension_refused": [REQUESTER_ADDRESSES],
    "key_delivered": [REQUESTER_ADDRESSES, SECURITY_ADDRESSES],
    "key_revealed": [REQUESTER_ADDRESSES, SECURITY_ADDRESSES],
    "pending_reminder": [SECURITY_ADDRESSES],
    "lapsed": [REQUESTER_ADDRESSES],
    "extension_reminder": [SECURITY_ADDRESSES],
    "extension_lapsed": [REQUESTER_ADDRESSES],
}
OUTCOME_WORDS = {
    "extension_asked": ("asks for a later end date", "approve or refuse the extension"),
    "extension_granted": ("was extended", "new end date"),
    "extension_refused": ("was not extended", "still ends on its current end date"),
    "key_delivered": ("had its access key link sent to the vendor", "key contact"),
    "key_revealed": ("had its access key shown to the vendor", "deactivate the key"),
    "pending_reminder": ("still awaits a decision", "it lapses"),
    "lapsed": ("lapsed: nobody decided in time", "duplicate the request"),
    "extension_reminder": ("still awaits a decision on its extension", "the ask lapses"),
    "extension_lapsed": ("was not extended: nobody decided in time", "Ask again"),
}


@pytest.mark.parametrize("event", sorted(OUTCOME_RECIPIENTS))
def test_each_outcome_reaches_its_audience_in_its_words_and_without_secrets(
    event, access_request, people, notify, slack
):
    r = access_request
    notify(r, event, actor_id=people["approver"].pk)

    assert sorted(sorted(m.to) for m in mail.outbox) == sorted(OUTCOME_RECIPIENTS[event])
    subject_words, body_words = OUTCOME_WORDS[event]
    for message in mail.outbox:
        assert message.subject == f"[Vendor access] Request #{r.pk} for Orbit CI {subject_words}"
        for body in (message.body, html_of(message)):
            assert body_words in body
            assert link(r) in body
        for secret in SECRETS:
            assert secret not in everything_in(message)
    (text,) = slack.texts()
    assert subject_words in text
    assert not any(secret in text for secret in SECRETS)


def test_a_refused_extension_tells_the_requester_why(access_request, people, notify):
    notify(
        access_request,
        "extension_refused",
        actor_id=people["approver"].pk,
        comment="The contract ends in March: ask again once it is renewed.",
    )
    (message,) = mail.outbox
    assert message.to == REQUESTER_ADDRESSES
    assert "Comment from sam:" in message.body
    assert "ask again once it is renewed" in message.body
    assert "ask again once it is renewed" in html_of(message)


# --- Vendor notices: a review is not an access request ------------------------------------------


@pytest.fixture
def owned_vendor(engineer, people) -> Vendor:
    """Orbit CI, owned by olga (not on the security team), with a key contact whose address
    no vendor notice may show."""
    owner = member("olga")
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(owner))
    vendor_services.contact_save(
        vendor_id=vendor.pk,
        actor=engineer,
        data={"name": "Kim", "email": "keys@orbit.example", "receives_access_keys": True},
    )
    mail.outbox.clear()
    return vendor


@pytest.fixture
def notify_vendor(django_capture_on_commit_callbacks):
    def run(vendor: Vendor, event: str, **kwargs: Any) -> list[Any]:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            notify_vendor_on_commit(vendor_id=vendor.pk, event=event, **kwargs)
        return callbacks

    return run


def vendor_link(vendor: Vendor) -> str:
    return "https://portal.example.com" + reverse("vendors:detail", kwargs={"pk": vendor.pk})


def test_a_review_decision_reaches_the_owner_and_security_with_its_comment(
    owned_vendor, people, notify_vendor, slack
):
    notify_vendor(
        owned_vendor,
        "review_decided",
        actor_id=people["approver"].pk,
        comment="Report & bridge letter <checked>.",
        extra={"decision": "Approved with conditions", "conditions": "MFA for all admins."},
    )
    assert sorted(m.to for m in mail.outbox) == [
        ["erin@example.com", "sam@example.com", "sasha@example.com"],
        ["olga@example.com"],
    ]
    for message in mail.outbox:
        assert message.subject == (
            "[Vendor access] Orbit CI had its review decided: Approved with conditions"
        )
        for body in (message.body, html_of(message)):
            assert vendor_link(owned_vendor) in body
            assert "MFA for all admins." in body
        assert "Report & bridge letter <checked>." in message.body
        assert "Report &amp; bridge letter &lt;checked&gt;." in html_of(message)
        assert "keys@orbit.example" not in everything_in(message)
    owner_mail = next(m for m in mail.outbox if m.to == ["olga@example.com"])
    assert "you own this vendor" in owner_mail.body
    (text,) = slack.texts()
    assert text.startswith(
        "*Orbit CI had its review decided: Approved with conditions* by sam\nOwner: olga"
    )
    assert "> Report &amp; bridge letter &lt;checked&gt;." in text
    assert f"<{vendor_link(owned_vendor)}|Open Orbit CI>" in text
    assert "keys@orbit.example" not in text


def test_a_review_due_names_its_date_and_an_owner_on_security_gets_one_notice(
    owned_vendor, people, notify_vendor
):
    Vendor.objects.filter(pk=owned_vendor.pk).update(internal_owner=people["approver"])
    callbacks = notify_vendor(owned_vendor, "review_due", extra={"due": "2027-01-04"})
    assert len(callbacks) == 2  # the owner's e-mail and security's; no webhook, no Slack task
    assert sorted(m.to for m in mail.outbox) == [
        ["erin@example.com", "sasha@example.com"],
        ["sam@example.com"],
    ]
    for message in mail.outbox:
        assert message.subject == "[Vendor access] Orbit CI has its next review due on 2027-01-04"
        assert "due soon" in message.body


def test_vendor_notices_cross_the_broker_as_ids_and_plain_strings(
    owned_vendor, notify_vendor, slack, monkeypatch
):
    task_arguments: list[tuple[Any, ...]] = []
    for task in (vendor_notice_email_task, vendor_notice_slack_task):
        original = task.delay

        def recording(*args: Any, _original: Any = original) -> Any:
            task_arguments.append(args)
            return _original(*args)

        monkeypatch.setattr(task, "delay", recording)
    notify_vendor(owned_vendor, "review_overdue", extra={"due": "2026-12-01"})
    emails = [args for args in task_arguments if len(args) == 6]
    assert sorted(args[2] for args in emails) == ["owner", "security"]
    assert len(task_arguments) == 3  # two e-mails and one Slack post
    for args in task_arguments:
        assert args[0] == owned_vendor.pk
        assert json.loads(json.dumps(args)) == list(args)  # JSON as it travels
    assert len(mail.outbox) == 2
    assert "is overdue for the review due on 2026-12-01" in mail.outbox[0].subject


def test_an_unknown_vendor_event_is_ignored_with_a_warning(owned_vendor, notify_vendor, caplog):
    with caplog.at_level(logging.WARNING, logger="accessportal.effects"):
        callbacks = notify_vendor(owned_vendor, "exploded")
    assert callbacks == []
    assert mail.outbox == []
    assert "Unknown vendor notification event 'exploded'" in caplog.text


@pytest.mark.usefixtures("worker_retries")
def test_a_vendor_notice_retries_each_channel_on_its_own(
    owned_vendor, notify_vendor, slack, flaky_mail
):
    slack.statuses = [503]
    flaky_mail.failures = 1
    notify_vendor(owned_vendor, "review_due", extra={"due": "2027-01-04"})
    assert slack.answered == [503, 200]
    assert len(mail.outbox) == 2  # the failed e-mail went on its retry, once


# --- Slack for security's other notices ----------------------------------------------------------


def test_a_key_recipient_change_reaches_slack_without_any_address(
    owned_vendor, people, engineer, django_capture_on_commit_callbacks, slack
):
    change = KeyRecipientChange.objects.create(
        vendor=owned_vendor,
        email="attacker@evil.example",
        previous_email="keys@orbit.example",
        proposed_by=engineer,
    )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify_key_recipient_change_on_commit(change_id=change.pk)
    (text,) = slack.texts()
    assert text.startswith("*Change of who receives access keys for Orbit CI* proposed by erin")
    assert f"<{vendor_link(owned_vendor)}|Open the vendor page>" in text
    assert "@" not in text  # no address at all: the channel is wider than security
    # The e-mails still go as before: the recipient until now, and security.
    assert sorted(m.to for m in mail.outbox) == [
        ["keys@orbit.example"],
        ["sam@example.com", "sasha@example.com"],
    ]


def test_external_access_reaches_slack_as_a_count_and_a_link(
    people, django_capture_on_commit_callbacks, slack
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify_external_access_on_commit(count=2)
    (text,) = slack.texts()
    findings = "https://portal.example.com" + reverse("verification:findings")
    assert text.splitlines()[0] == "*2 vendor access finding(s) nobody approved in AWS*"
    assert f"<{findings}|Open the findings>" in text
    (message,) = mail.outbox
    assert "2 vendor access finding(s)" in message.subject


def test_without_a_webhook_security_notices_schedule_no_slack_task(
    people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        notify_external_access_on_commit(count=1)
    assert len(callbacks) == 1


def test_a_reminder_goes_to_those_who_may_still_approve(access_request, people, notify):
    """Not to a member who decided already, nor to the requester; and to the security team
    when the rules leave nobody who may still approve."""
    r = access_request
    AccessRequest.objects.filter(pk=r.pk).update(status="submitted", required_approvals=2)
    Approval.objects.create(
        access_request=r, approver=people["approver"], decision="approve", counted_for=["security"]
    )
    notify(r, "pending_reminder")
    assert [m.to for m in mail.outbox] == [["sasha@example.com"]]
    assert "the approval rules give you this decision" in mail.outbox[0].body

    # The rules give the decision to a group nobody is in: security hears of it instead.
    nobody = rules.Rule(name="Security team", approver_group="security-nobody")
    in_force = rules.active_rule_set()
    in_force.rules = [nobody.as_dict()]
    in_force.save(update_fields=["rules"])
    mail.outbox.clear()
    notify(r, "pending_reminder")
    assert [m.to for m in mail.outbox] == [SECURITY_ADDRESSES]
