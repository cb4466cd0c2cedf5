"""The stack's fixtures (tests/stack.py), for the browser tests that walk the real processes,
and the AWS emulator the pages' own tests talk to."""

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from tests.services import free_port
from tests.stack import (  # noqa: F401  fixtures, found by pytest by their names here
    _portal_settings,
    reports_worker,
    stack,
    substrate,
    through_redis,
    web,
    worker,
)


@pytest.fixture
def aws_endpoint(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh AWS emulator (moto) on loopback, which the portal in the test process calls."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    settings.AWS_ENDPOINT_URL = endpoint
    settings.AWS_ADMIN_ROLE_ARN = ""
    yield endpoint
    server.stop()
