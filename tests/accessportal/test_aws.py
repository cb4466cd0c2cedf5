"""provisioning.aws talks to the AWS emulator as a separate server, as `make run` starts it."""

from __future__ import annotations

import pytest
from moto.server import ThreadedMotoServer

from provisioning.aws import aws_client
from tests.services import free_port


@pytest.fixture
def moto_endpoint(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    yield settings.AWS_ENDPOINT_URL
    server.stop()


def test_client_reaches_the_configured_endpoint(moto_endpoint):
    identity = aws_client("sts").get_caller_identity()
    assert identity["Account"] == "123456789012"


def test_client_assumes_the_configured_role(moto_endpoint):
    role_arn = "arn:aws:iam::210987654321:role/OrganizationReader"
    identity = aws_client("sts", role_arn=role_arn).get_caller_identity()
    assert identity["Account"] == "210987654321"
    assert ":assumed-role/OrganizationReader/" in identity["Arn"]
