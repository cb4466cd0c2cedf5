"""provisioning.aws IAM user and access key functions, against the AWS emulator as a separate
server (real boto3 calls over HTTP, nothing mocked)."""

from __future__ import annotations

import pickle
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto.server import ThreadedMotoServer

from provisioning.aws import (
    AccessKey,
    AwsError,
    access_key_create,
    access_key_delete,
    access_key_last_used,
    access_key_set_status,
    access_keys_list,
    aws_client,
    iam_user_exists,
)
from provisioning.keys import Secret
from tests.services import free_port

pytestmark = pytest.mark.pure

USER = "vendor-acme-billing"


@pytest.fixture
def moto_endpoint(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    settings.AWS_ADMIN_ROLE_ARN = ""
    # The threaded server keeps moto's state in this process: start every test from empty.
    _reset(settings.AWS_ENDPOINT_URL)
    yield settings.AWS_ENDPOINT_URL
    _reset(settings.AWS_ENDPOINT_URL)
    server.stop()


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def user(moto_endpoint) -> str:
    aws_client("iam").create_user(UserName=USER)
    return USER


def _ids(keys: list[AccessKey]) -> set[str]:
    return {key.id for key in keys}


def test_user_exists(moto_endpoint):
    assert not iam_user_exists(USER)
    aws_client("iam").create_user(UserName=USER)
    assert iam_user_exists(USER)


def test_create_a_key_for_a_new_user(user):
    created = access_key_create(user, known_key_ids=set())
    key_id, secret = created  # unpacks as (access_key_id, Secret)
    assert key_id.startswith("AKIA")
    assert len(key_id) == 20
    assert isinstance(secret, Secret)
    assert len(secret.reveal()) == 40
    assert secret.reveal() not in repr(created)
    with pytest.raises(TypeError):
        pickle.dumps(created)

    [listed] = access_keys_list(user)
    assert listed.id == key_id
    assert listed.user_name == user
    assert listed.active
    assert listed.created is not None
    assert abs(datetime.now(UTC) - listed.created) < timedelta(minutes=5)


def test_unknown_key_from_a_crashed_attempt_is_deleted_before_creating(user):
    recorded = access_key_create(user, known_key_ids=set()).id
    # An earlier attempt created this key and crashed before recording it: its secret is lost.
    lost = aws_client("iam").create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    assert _ids(access_keys_list(user)) == {recorded, lost}

    # At IAM's limit of two; creating deletes the unknown key first, then fits.
    third = access_key_create(user, known_key_ids={recorded}).id
    assert _ids(access_keys_list(user)) == {recorded, third}
    assert lost not in {recorded, third}


def test_retry_after_a_crash_leaves_exactly_one_key(user):
    # Two attempts that each "crash" before recording, then the successful retry.
    access_key_create(user, known_key_ids=set())
    access_key_create(user, known_key_ids=set())
    final = access_key_create(user, known_key_ids=set()).id
    assert _ids(access_keys_list(user)) == {final}


def test_two_known_keys_refuse_a_third(user):
    first = access_key_create(user, known_key_ids=set()).id
    second = access_key_create(user, known_key_ids={first}).id
    with pytest.raises(AwsError, match="already has 2 access keys"):
        access_key_create(user, known_key_ids={first, second})
    assert _ids(access_keys_list(user)) == {first, second}  # nothing deleted, nothing created


def test_deactivate_and_reactivate(user):
    key_id = access_key_create(user, known_key_ids=set()).id
    access_key_set_status(user, key_id, active=False)
    assert [key.active for key in access_keys_list(user)] == [False]
    access_key_set_status(user, key_id, active=False)  # twice is fine
    access_key_set_status(user, key_id, active=True)
    assert [key.active for key in access_keys_list(user)] == [True]


def test_delete_twice_is_fine(user):
    key_id = access_key_create(user, known_key_ids=set()).id
    assert access_key_delete(user, key_id) is True
    assert access_key_delete(user, key_id) is False
    assert access_keys_list(user) == []


def test_last_used_is_none_until_the_key_is_used(user, moto_endpoint, settings):
    key_id, secret = access_key_create(user, known_key_ids=set())
    unused = access_key_last_used(key_id)
    assert unused.never_used
    assert (unused.used_at, unused.service, unused.region) == (None, None, None)

    before = datetime.now(UTC) - timedelta(seconds=5)
    vendor = boto3.client(
        "sts",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret.reveal(),
    )
    identity = vendor.get_caller_identity()
    assert identity["Arn"].endswith(f":user/{user}")

    used = access_key_last_used(key_id)
    assert not used.never_used
    assert used.used_at is not None
    assert used.used_at >= before
    assert used.service == "sts"
    assert used.region == "eu-west-1"


def test_errors_are_aws_errors_naming_the_call(user):
    with pytest.raises(AwsError, match="UpdateAccessKey failed: NoSuchEntity"):
        access_key_set_status(user, "AKIA0000000000000000", active=False)
    with pytest.raises(AwsError, match="ListAccessKeys failed: NoSuchEntity"):
        access_keys_list("no-such-user")


def test_calls_go_through_the_admin_role(moto_endpoint, settings):
    settings.AWS_ADMIN_ROLE_ARN = "arn:aws:iam::210987654321:role/Administrator"
    admin_iam = aws_client("iam", role_arn=settings.AWS_ADMIN_ROLE_ARN)
    admin_iam.create_user(UserName=USER)  # the user lives in the admin account only
    assert iam_user_exists(USER)
    assert not iam_user_exists(USER, role_arn="")  # the caller's own account has no such user
    key_id = access_key_create(USER, known_key_ids=set()).id
    listed = admin_iam.list_access_keys(UserName=USER)["AccessKeyMetadata"]
    assert [raw["AccessKeyId"] for raw in listed] == [key_id]


def test_clients_share_one_loader_whose_search_paths_do_not_grow(moto_endpoint):
    from provisioning.aws import SHARED_LOADER

    aws_client("iam")
    paths = list(SHARED_LOADER.search_paths)
    for _ in range(3):
        aws_client("iam").list_users()
        aws_client("sts")
    assert SHARED_LOADER.search_paths == paths
    assert any(path.endswith("data") for path in paths)  # boto3's own folder is listed once
