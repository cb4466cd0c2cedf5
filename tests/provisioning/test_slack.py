"""The Slack webhook post refuses a URL that would carry its token in clear, sending nothing."""

from __future__ import annotations

import pytest

from provisioning.slack import webhook_post, webhook_url_allowed

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/services/T/B/x", True),
        ("http://127.0.0.1:9999/hook", True),
        ("http://localhost/hook", True),
        ("http://hooks.slack.com/services/T/B/x", False),
        ("ftp://hooks.slack.com/x", False),
        ("https://", False),
    ],
)
def test_only_https_or_this_machine_is_allowed(url, allowed):
    assert webhook_url_allowed(url) is allowed


def test_a_refused_url_is_never_posted_to():
    # Port 9 on a routable name would hang or fail differently if anything were sent.
    with pytest.raises(ValueError, match="must be https"):
        webhook_post("http://hooks.slack.com:9/services/T/B/x", "a notice")
