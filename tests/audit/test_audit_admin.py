"""The audit log in the Django admin: readable by security and auditors, writable by no one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accessportal.roles import Role
from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:audit_auditevent_changelist"


@pytest.fixture
def security_client(client, make_user):
    force_login_with_mfa(client, make_user("sec", Role.SECURITY, is_staff=True))
    return client


@pytest.fixture
def event(make_user) -> AuditEvent:
    return audit_record(
        actor=make_user("erin"),
        action="vendor.update",
        object_repr="Acme <Monitoring>",
        before={"name": "Acme"},
        after={"name": "<script>alert(1)</script>"},
        source_ip="198.51.100.4",
    )


def test_changelist_lists_events_and_searches(security_client, event):
    other = audit_record(actor=None, action="review.decide", object_repr="Globex review")
    page = security_client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme &lt;Monitoring&gt;" in html
    assert "Globex review" in html
    assert "198.51.100.4" in html

    found = security_client.get(reverse(CHANGELIST), {"q": "globex"}).content.decode()
    assert "Globex review" in found
    assert "Acme &lt;Monitoring&gt;" not in found
    by_actor = security_client.get(reverse(CHANGELIST), {"q": "erin"}).content.decode()
    assert "Acme &lt;Monitoring&gt;" in by_actor
    assert "Globex review" not in by_actor
    filtered = security_client.get(reverse(CHANGELIST), {"action": "review.decide"})
    assert filtered.status_code == 200
    assert f'href="{reverse("admin:audit_auditevent_change", args=[other.pk])}' in (
        filtered.content.decode()
    )
    assert "Acme &lt;Monitoring&gt;" not in filtered.content.decode()


def test_changelist_has_no_add_button_or_bulk_delete(security_client, event):
    html = security_client.get(reverse(CHANGELIST)).content.decode()
    assert reverse("admin:audit_auditevent_add") not in html
    assert "delete_selected" not in html


def test_detail_page_is_read_only_and_shows_escaped_pretty_json(security_client, event):
    page = security_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "<script>alert(1)</script>" not in html
    assert "&quot;name&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in html
    assert event.hash in html
    assert event.prev_hash in html


def test_add_change_and_delete_are_forbidden_even_for_superusers(client, make_user, event):
    superuser = make_user("root", Role.SECURITY, is_staff=True, is_superuser=True)
    force_login_with_mfa(client, superuser)
    add = reverse("admin:audit_auditevent_add")
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert client.get(add).status_code == 403
    assert client.post(add, {"action": "vendor.create", "sequence": 99}).status_code == 403
    assert client.post(change, {"action": "vendor.delete", "object_repr": "x"}).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse(CHANGELIST)
    bulk = client.post(
        changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.object_repr) == ("vendor.update", "Acme <Monitoring>")
    assert AuditEvent.objects.count() == 1


def test_security_staff_get_403_on_add_change_and_delete(security_client, event):
    add = reverse("admin:audit_auditevent_add")
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert security_client.get(add).status_code == 403
    assert security_client.post(change, {"action": "vendor.delete"}).status_code == 403
    assert security_client.get(delete).status_code == 403
    assert security_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "vendor.update"


def test_staff_without_security_or_auditor_role_cannot_read_the_log(client, make_user, event):
    force_login_with_mfa(client, make_user("staffer", is_staff=True))
    assert client.get(reverse(CHANGELIST)).status_code == 403
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert client.get(change).status_code == 403


def test_auditor_staff_can_read_the_log(client, make_user, event):
    force_login_with_mfa(client, make_user("ari", Role.AUDITORS, is_staff=True))
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert "Acme &lt;Monitoring&gt;" in page.content.decode()


def test_changelist_query_count_does_not_grow_with_the_log(security_client, event):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert security_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    few = queries()
    for n in range(30):
        audit_record(actor=event.actor, action="vendor.touch", object_repr=f"vendor {n}")
    assert queries() == few
