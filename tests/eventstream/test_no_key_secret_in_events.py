"""An access key issued, e-mailed and revealed while the stream runs: neither its secret nor
its one-time link's token reaches the receiver (issue 19: "nothing secret in any event").

The key flow runs for real against the AWS emulator, with the fixtures of tests/keys.
"""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from eventstream import services
from keys.models import AccessKey
from tests.eventstream.receiver import Receiver

# The AWS emulator and an IAM-user grant whose user exists, as the key tests set them up.
from tests.keys.test_access_keys import (  # noqa: F401
    _issue,
    _links,
    _reveal,
    _token,
    aws_endpoint,
    grant,
    iam_user,
    moto_server,
)

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("iam_user")
def test_no_key_secret_or_link_token_in_any_event(
    client, security, request, django_capture_on_commit_callbacks
):
    access_request = request.getfixturevalue("grant")  # the IAM user's grant (tests/keys)
    receiver = Receiver().start()
    try:
        created = services.endpoint_create(
            actor=security, mfa_verified=True, name="SIEM", url=receiver.url
        )
        receiver.secret = created.secret.reveal()
        row = _issue(access_request, django_capture_on_commit_callbacks)
        token = _token(_links()[0])
        key_id, secret = _reveal(client, token)
        services.events_deliver()
    finally:
        receiver.stop()

    assert AccessKey.objects.get(pk=row.pk).access_key_id == key_id
    actions = {d.event["action"] for d in receiver.accepted}
    assert {"key.issue", "key.link_sent", "key.reveal"} <= actions
    assert len(receiver.accepted) == len(receiver.requests)
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    assert receiver.accepted[-1].event["sequence"] == last
    for delivery in receiver.requests:
        text = delivery.body.decode() + repr(delivery.headers)
        for known in (secret, token, created.secret.reveal()):
            assert known not in text
