"""Issue 15: whoever edits a vendor cannot have its access keys mailed to themselves.

A change of who receives keys (the key contact's e-mail, another contact marked, a new contact
marked) waits for an MFA-verified security member who neither proposed it nor asked for the
vendor's access; the recipient until now and security are told; key links for the vendor are
held meanwhile (to both addresses) and go out once it is decided. Real AWS emulator (moto),
real PostgreSQL, Celery eager, as in test_access_keys.py.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accessportal.roles import Role
from audit.models import AuditEvent
from keys import services as keys
from keys.models import AccessKey, KeyDelivery
from tests.approvals.test_decisions import _sign_in_with_totp
from tests.keys import test_access_keys as key_tests
from vendors import services as vendor_services
from vendors.models import KeyRecipientChange, VendorContact

pytestmark = pytest.mark.django_db

ATTACKER = "erin.private@evil.example"
CONTACT = key_tests.CONTACT
_issue, _reveal, _token = key_tests._issue, key_tests._reveal, key_tests._token
# The AWS emulator and the active IAM-user grant of Orbit CI whose key contact is CONTACT.
moto_server = key_tests.moto_server
aws_endpoint = key_tests.aws_endpoint
grant = key_tests.grant
iam_user = key_tests.iam_user


@pytest.fixture
def security2(make_user):
    # Not tests/conftest.py's security2 (sasha): kept under the name these tests were written with.
    return make_user("sue", Role.SECURITY, is_staff=True)


def _key_contact(grant) -> VendorContact:
    return grant.vendor.contacts.get(receives_access_keys=True)


def _key_links(outbox) -> list:
    return [m for m in outbox if "/keys/" in m.body]


def _edit_contact_email(client, grant, callbacks, email: str):
    contact = _key_contact(grant)
    url = reverse("vendors:contact_edit", kwargs={"pk": grant.vendor_id, "contact_id": contact.pk})
    with callbacks(execute=True):
        return client.post(
            url,
            {"name": contact.name, "email": email, "role": "", "receives_access_keys": "on"},
            follow=True,
        )


def test_the_requester_editing_the_key_contact_gets_no_key_mailed_to_them(
    client, grant, iam_user, engineer, security, security2, django_capture_on_commit_callbacks
):
    """The probe's attack: edit the key contact's e-mail, then a re-issue; nothing reaches
    the new address (nor the old) until security confirms."""
    _issue(grant, django_capture_on_commit_callbacks)
    assert [m.to for m in _key_links(mail.outbox)] == [[CONTACT]]
    mail.outbox.clear()

    client.force_login(engineer)
    page = _edit_contact_email(client, grant, django_capture_on_commit_callbacks, ATTACKER)
    assert "once the security team confirms it" in page.content.decode()
    assert _key_contact(grant).email == CONTACT  # unchanged until confirmed
    change = KeyRecipientChange.objects.get(vendor=grant.vendor, status="pending")
    assert (change.email, change.previous_email, change.proposed_by) == (
        ATTACKER,
        CONTACT,
        engineer,
    )
    # The recipient until now and security hear of it; the proposer does not decide.
    notices = {tuple(m.to): m for m in mail.outbox}
    assert set(notices) == {(CONTACT,), (security.email, security2.email)}
    assert ATTACKER not in notices[(CONTACT,)].body  # masked for the vendor's side
    assert "e***@evil.example" in notices[(CONTACT,)].body
    assert ATTACKER in notices[(security.email, security2.email)].body
    assert not _key_links(mail.outbox)
    mail.outbox.clear()

    # Security re-issues (or rotation runs): the old key goes, the new one waits, no mail.
    with django_capture_on_commit_callbacks(execute=True):
        keys.access_key_reissue(request_id=grant.pk, actor=security, mfa_verified=True)
        keys.access_keys_issue_due()
    assert mail.outbox == []
    pending = AccessKey.objects.get(access_request=grant, status="pending")
    assert pending.last_error.startswith("Held:")
    client.force_login(security)
    request_page = client.get(reverse("approvals:request_detail", kwargs={"pk": grant.pk}))
    assert 'data-testid="key-held"' in request_page.content.decode()
    # Whoever decides the request sees who receives its keys: the confirmed address only.
    recipient = request_page.content.decode().split('data-testid="key-recipient">')[1]
    recipient = recipient.split("</p>")[0]
    assert CONTACT in recipient
    assert ATTACKER not in recipient
    assert "a change waits for security" in recipient

    # Security (not the proposer, with MFA) confirms: the key goes to the confirmed address.
    with django_capture_on_commit_callbacks(execute=True):
        vendor_services.key_recipient_change_decide(
            change_id=change.pk, actor=security, confirm=True, mfa_verified=True
        )
    assert _key_contact(grant).email == ATTACKER
    [link] = _key_links(mail.outbox)
    assert link.to == [ATTACKER]
    new = AccessKey.objects.get(access_request=grant, status="active")
    assert _reveal(client, _token(link))[0] == new.access_key_id
    actions = list(
        AuditEvent.objects.filter(action__startswith="vendor.key_recipient").values_list(
            "action", "actor_id"
        )
    )
    assert actions == [
        ("vendor.key_recipient_propose", engineer.pk),
        ("vendor.key_recipient_confirm", security.pk),
    ]
    assert AuditEvent.objects.filter(action="key.issue_held", object_id=str(grant.pk)).exists()


def test_only_an_mfa_verified_security_member_other_than_proposer_and_requester_decides(
    grant, engineer, security, security2, make_user
):
    owner_on_security = make_user("sol", Role.SECURITY)
    vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=security2,  # security may propose too, and then does not decide it
        data={"name": "New", "email": "new@orbit.example", "receives_access_keys": True},
        mfa_verified=True,
    )
    change_by_security = KeyRecipientChange.objects.get(status="pending")
    for person, mfa in (
        (engineer, True),  # not security, and the vendor's creator and requester
        (security2, True),  # the proposer
        (security, False),  # no second factor in this session
    ):
        with pytest.raises(PermissionDenied):
            vendor_services.key_recipient_change_decide(
                change_id=change_by_security.pk, actor=person, confirm=True, mfa_verified=mfa
            )
    # A security member who asked for this vendor's access is its requester too.
    type(grant).objects.filter(pk=grant.pk).update(requester=owner_on_security)
    with pytest.raises(PermissionDenied):
        vendor_services.key_recipient_change_decide(
            change_id=change_by_security.pk,
            actor=owner_on_security,
            confirm=True,
            mfa_verified=True,
        )
    with pytest.raises(ValidationError, match="Say why"):
        vendor_services.key_recipient_change_decide(
            change_id=change_by_security.pk, actor=security, confirm=False, mfa_verified=True
        )
    vendor_services.key_recipient_change_decide(
        change_id=change_by_security.pk,
        actor=security,
        confirm=False,
        mfa_verified=True,
        comment="Not from the vendor.",
    )
    assert _key_contact(grant).email == CONTACT
    assert not VendorContact.objects.get(email="new@orbit.example").receives_access_keys
    event = AuditEvent.objects.get(action="vendor.key_recipient_reject")
    assert event.actor_id == security.pk
    assert event.after is not None
    assert event.after["decision_comment"] == "Not from the vendor."


def test_marking_another_contact_or_adding_one_is_a_change_too(grant, engineer, security):
    other = vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=engineer,
        data={"name": "Omar", "email": "omar@orbit.example", "role": "CTO"},
    )
    vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=engineer,
        contact_id=other.pk,
        data={"name": "Omar", "email": "omar@orbit.example", "receives_access_keys": True},
    )
    assert _key_contact(grant).email == CONTACT
    change = KeyRecipientChange.objects.get(status="pending")
    assert change.contact == other
    # While it waits: no second proposal, the named contact's e-mail is frozen, it stays.
    with pytest.raises(ValidationError, match="already waits"):
        vendor_services.contact_save(
            vendor_id=grant.vendor_id,
            actor=engineer,
            data={"name": "Eve", "email": "eve@evil.example", "receives_access_keys": True},
        )
    assert not VendorContact.objects.filter(email="eve@evil.example").exists()
    with pytest.raises(ValidationError):
        vendor_services.contact_save(
            vendor_id=grant.vendor_id,
            actor=engineer,
            contact_id=other.pk,
            data={"email": "eve@evil.example"},
        )
    with pytest.raises(ValidationError):
        vendor_services.contact_delete(contact_id=other.pk, actor=engineer)
    # A change that does not touch who receives keys is saved at once.
    vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=engineer,
        contact_id=_key_contact(grant).pk,
        data={"name": "Kim Lee"},
    )
    assert _key_contact(grant).name == "Kim Lee"

    vendor_services.key_recipient_change_decide(
        change_id=change.pk, actor=security, confirm=True, mfa_verified=True
    )
    assert _key_contact(grant) == other
    assert VendorContact.objects.filter(vendor=grant.vendor, receives_access_keys=True).count() == 1

    # Adding a new contact who receives keys is held the same way.
    vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=engineer,
        data={"name": "Eve", "email": "eve@evil.example", "receives_access_keys": True},
    )
    assert _key_contact(grant) == other
    assert KeyRecipientChange.objects.get(status="pending").email == "eve@evil.example"


def test_removing_the_key_contact_then_adding_another_is_held(grant, engineer):
    vendor_services.contact_delete(contact_id=_key_contact(grant).pk, actor=engineer)
    vendor_services.contact_save(
        vendor_id=grant.vendor_id,
        actor=engineer,
        data={"name": "Eve", "email": "eve@evil.example", "receives_access_keys": True},
    )
    assert not grant.vendor.contacts.filter(receives_access_keys=True).exists()
    assert KeyRecipientChange.objects.get(status="pending").previous_email == ""


def test_a_link_queued_before_the_proposal_is_held_then_sent_to_the_confirmed_recipient(
    grant, iam_user, engineer, security, django_capture_on_commit_callbacks
):
    """Rejected: the held link goes to the recipient it was for; nothing expires meanwhile."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        row = keys.access_key_issue(request_id=grant.pk)
    with django_capture_on_commit_callbacks(execute=True):
        vendor_services.contact_save(
            vendor_id=grant.vendor_id,
            actor=engineer,
            contact_id=_key_contact(grant).pk,
            data={"email": ATTACKER},
        )
    mail.outbox.clear()
    for callback in queued:
        callback()  # the link's task runs only now: the change is pending
    delivery = KeyDelivery.objects.get(access_key=row)
    assert delivery.sent_at is None
    assert _key_links(mail.outbox) == []
    assert AuditEvent.objects.filter(action="key.link_held", object_id=str(grant.pk)).exists()
    # Held links do not expire while they wait.
    KeyDelivery.objects.filter(pk=delivery.pk).update(expires_at=delivery.created_at)
    assert keys.key_deliveries_expire() == 0

    change = KeyRecipientChange.objects.get(status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        vendor_services.key_recipient_change_decide(
            change_id=change.pk, actor=security, confirm=False, mfa_verified=True, comment="No."
        )
    [link] = _key_links(mail.outbox)
    assert link.to == [CONTACT]
    delivery.refresh_from_db()
    assert delivery.sent_at is not None
    assert delivery.expires_at > delivery.created_at
    assert AuditEvent.objects.filter(action="key.link_release", object_id=str(grant.pk)).exists()


def test_security_sees_and_decides_the_change_on_the_vendor_page_and_dashboard(
    client, grant, engineer, security, password, django_capture_on_commit_callbacks
):
    client.force_login(engineer)
    _edit_contact_email(client, grant, django_capture_on_commit_callbacks, ATTACKER)
    change = KeyRecipientChange.objects.get(status="pending")
    vendor_url = reverse("vendors:detail", kwargs={"pk": grant.vendor_id})
    decide_url = reverse(
        "vendors:key_recipient_decide", kwargs={"pk": grant.vendor_id, "change_id": change.pk}
    )
    page = client.get(vendor_url).content.decode()
    assert 'data-testid="key-recipient-change"' in page
    assert "Confirm the new recipient" not in page  # the proposer is not offered it
    assert client.post(decide_url, {"decision": "confirm"}).status_code == 403  # not security

    client.force_login(security)  # a session without a second factor
    dashboard = client.get(reverse("dashboard")).content.decode()
    listed = dashboard.split('data-testid="key-recipient-changes"')[1].split("</ul>")[0]
    assert ATTACKER in listed
    assert "Confirm the new recipient" in client.get(vendor_url).content.decode()
    refused = client.post(decide_url, {"decision": "confirm"}, follow=True)
    assert "second factor" in refused.content.decode()
    assert KeyRecipientChange.objects.get(pk=change.pk).status == "pending"

    client.logout()
    _sign_in_with_totp(client, security, password)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(decide_url, {"decision": "confirm"})
    assert response.status_code == 302
    assert KeyRecipientChange.objects.get(pk=change.pk).status == "confirmed"
    assert _key_contact(grant).email == ATTACKER
    assert 'data-testid="key-recipient-change"' not in client.get(vendor_url).content.decode()


def test_a_vendor_being_registered_names_its_first_key_contact_directly(make_user, security):
    from tests.vendors.helpers import vendor_data

    owner = make_user("olga")
    vendor = vendor_services.vendor_create(actor=owner, data=vendor_data(owner))
    contact = vendor_services.contact_save(
        vendor_id=vendor.pk,
        actor=owner,
        data={"name": "Kim", "email": "kim@orbit.example", "receives_access_keys": True},
    )
    assert contact.receives_access_keys
    assert not KeyRecipientChange.objects.exists()
