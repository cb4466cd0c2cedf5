"""The only module that imports boto3: clients for the configured AWS (or the local emulator).

Credentials come from boto3's standard chain. `AWS_ENDPOINT_URL` points every client at the
AWS emulator for `make run` and the tests; empty means real AWS. A role ARN makes the client
assume that role first (e.g. an `OrganizationReader` or the admin account's role).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from django.conf import settings

# Standard retry mode backs off on throttling, which AWS Organizations does readily.
_BOTO_CONFIG = BotoConfig(
    retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


def _session(role_arn: str = "", session_name: str = "vendor-access-portal") -> boto3.Session:
    base = boto3.Session(region_name=settings.AWS_REGION)
    if not role_arn:
        return base
    sts = base.client("sts", endpoint_url=settings.AWS_ENDPOINT_URL or None, config=_BOTO_CONFIG)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=settings.AWS_REGION,
    )


def aws_client(service: str, *, role_arn: str = "") -> Any:
    """A boto3 client for `service`, through `role_arn` when given."""
    session: Any = _session(role_arn)  # boto3-stubs type `client` per service name literal
    return session.client(
        service, endpoint_url=settings.AWS_ENDPOINT_URL or None, config=_BOTO_CONFIG
    )
