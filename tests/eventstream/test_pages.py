"""The event stream's pages: security adds an endpoint and sees its secret once, follows its
health, pauses, deletes, and sends a dead letter again."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from eventstream import services
from eventstream.models import EventDelivery, EventEndpoint
from tests.eventstream.receiver import Receiver
from tests.factories import force_login_with_mfa

pytestmark = pytest.mark.django_db

SECRET_SHOWN = re.compile(r'data-testid="signing-secret">([A-Za-z0-9_-]{43})<')


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def test_security_adds_an_endpoint_and_sees_its_secret_once(client, security, receiver):
    force_login_with_mfa(client, security)
    assert client.get(reverse("events:list")).status_code == 200
    response = client.post(
        reverse("events:create"), {"name": "SIEM", "url": receiver.url + "/tok3n"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    found = SECRET_SHOWN.search(response.content.decode())
    assert found
    secret = found.group(1)
    endpoint = EventEndpoint.objects.get()
    for url in (reverse("events:list"), reverse("events:detail", kwargs={"pk": endpoint.pk})):
        html = client.get(url).content.decode()
        assert secret not in html
        assert "tok3n" not in html  # only the URL's origin is shown
        assert endpoint.url_origin in html
    # The secret shown is the one the deliveries are signed with.
    receiver.secret = secret
    services.events_deliver()
    assert [d.status for d in receiver.requests] == [200]


def test_the_nav_shows_the_stream_to_security_only(client, security, engineer, auditor):
    for user, shown in ((security, True), (engineer, False), (auditor, False)):
        client.force_login(user)
        html = client.get(reverse("dashboard")).content.decode()
        assert (f'href="{reverse("events:list")}"' in html) is shown, user


def test_health_pause_delete_and_redeliver_from_the_pages(client, security, receiver, settings):
    settings.PORTAL_EVENT_MAX_ATTEMPTS = 1
    created = services.endpoint_create(
        actor=security, mfa_verified=True, name="SIEM", url=receiver.url
    )
    receiver.secret = created.secret.reveal()
    endpoint = created.endpoint
    receiver.fail_next = 1
    services.events_deliver()  # the creation event: a dead letter at once
    dead = EventDelivery.objects.get()
    force_login_with_mfa(client, security)
    html = client.get(reverse("events:list")).content.decode()
    assert "answered HTTP 500" in html
    assert reverse("events:redeliver", kwargs={"pk": dead.pk}) in html

    response = client.post(reverse("events:redeliver", kwargs={"pk": dead.pk}))
    assert response.status_code == 302
    services.events_deliver()
    dead.refresh_from_db()
    assert dead.status == EventDelivery.Status.DELIVERED

    detail = reverse("events:detail", kwargs={"pk": endpoint.pk})
    assert client.get(detail).status_code == 200
    client.post(reverse("events:active", kwargs={"pk": endpoint.pk}), {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert "Resume" in client.get(detail).content.decode()
    client.post(reverse("events:delete", kwargs={"pk": endpoint.pk}))
    assert not EventEndpoint.objects.exists()


def test_a_new_secret_is_shown_once_and_signs_what_follows(client, security, receiver):
    created = services.endpoint_create(
        actor=security, mfa_verified=True, name="SIEM", url=receiver.url
    )
    force_login_with_mfa(client, security)
    response = client.post(reverse("events:rotate", kwargs={"pk": created.endpoint.pk}))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    found = SECRET_SHOWN.search(response.content.decode())
    assert found
    assert found.group(1) != created.secret.reveal()
    receiver.secret = created.secret.reveal()  # the SIEM still has the old one: refused
    services.events_deliver()
    assert [d.status for d in receiver.requests] == [401]
    receiver.secret = found.group(1)
    EventEndpoint.objects.update(next_attempt_at=None)  # as if the retry were due
    services.events_deliver()
    assert [d.status for d in receiver.requests] == [401, 200, 200]
    events = [d.event["action"] for d in receiver.accepted]
    assert events == ["event_endpoint.create", "event_endpoint.rotate_secret"]
