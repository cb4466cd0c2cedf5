"""provisioning.keys: encryption at rest, one-time link tokens, masking, the Secret wrapper."""

from __future__ import annotations

import copy
import hmac
import json
import logging
import math
import os
import pickle
import subprocess
import sys
from collections import Counter

import pytest
from cryptography.fernet import Fernet
from django.core.serializers.json import DjangoJSONEncoder
from kombu.utils.json import dumps as kombu_dumps

from provisioning import keys
from provisioning.keys import (
    Secret,
    SecretDecryptionError,
    decrypt_secret,
    encrypt_secret,
    encryption_configured,
    link_token_hash,
    link_token_matches,
    mask_access_key_id,
    new_link_token,
    rotate_ciphertext,
)
from tests.processes import ROOT

pytestmark = pytest.mark.pure

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def new_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def old_key() -> str:
    return Fernet.generate_key().decode()


# --- Encryption ---------------------------------------------------------------------------------


def test_round_trip_with_configured_keys(settings, new_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    assert encryption_configured()
    token = encrypt_secret(SECRET)
    assert isinstance(token, bytes)
    assert decrypt_secret(token) == SECRET
    # The current key alone (plain Fernet) decrypts it: the first key is the one used.
    assert Fernet(new_key).decrypt(token).decode() == SECRET


def test_round_trip_accepts_a_secret_wrapper(settings, new_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    assert decrypt_secret(encrypt_secret(Secret(SECRET))) == SECRET


def test_ciphertext_never_contains_the_plaintext(settings, new_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    first, second = encrypt_secret(SECRET), encrypt_secret(SECRET)
    for token in (first, second):
        assert SECRET.encode() not in token
    assert first != second  # a fresh IV each time: equal secrets are not recognisable


def test_local_fallback_is_derived_from_secret_key(settings):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = []
    settings.SECRET_KEY = "one-local-secret-key-for-this-test"
    assert not encryption_configured()
    token = encrypt_secret(SECRET)
    assert decrypt_secret(token) == SECRET
    settings.SECRET_KEY = "another-local-secret-key"
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(token)


def test_settings_are_read_at_call_time(settings, new_key, old_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old_key]
    token = encrypt_secret(SECRET)
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(token)


def test_old_key_still_decrypts_after_rotation_and_rotate_moves_to_new(settings, new_key, old_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old_key]
    token = encrypt_secret(SECRET)

    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key, old_key]
    assert decrypt_secret(token) == SECRET
    rotated = rotate_ciphertext(token)
    assert rotated != token
    assert SECRET.encode() not in rotated

    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    assert decrypt_secret(rotated) == SECRET
    with pytest.raises(SecretDecryptionError):
        decrypt_secret(token)  # the old ciphertext needed the old key


def test_wrong_key_raises_a_clear_error_without_the_key(settings, new_key, old_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [old_key]
    token = encrypt_secret(SECRET)
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(SecretDecryptionError) as caught:
        decrypt_secret(token)
    message = str(caught.value)
    assert "PORTAL_KEY_ENCRYPTION_KEYS" in message
    assert "cannot decrypt" in message
    for leaked in (new_key, old_key, SECRET):
        assert leaked not in message
    assert caught.value.__suppress_context__  # no chained InvalidToken traceback either
    with pytest.raises(SecretDecryptionError, match="cannot re-encrypt"):
        rotate_ciphertext(token)


def test_damaged_ciphertext_raises_the_same_clear_error(settings, new_key):
    settings.PORTAL_KEY_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(SecretDecryptionError, match="PORTAL_KEY_ENCRYPTION_KEYS"):
        decrypt_secret(b"not-a-fernet-token")


# --- Start-up validation of PORTAL_KEY_ENCRYPTION_KEYS ------------------------------------------

_SESSION_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")


def _check(tmp_path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARS}
    env.update(PORTAL_VAR_DIR=str(tmp_path / "var"), **variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_invalid_encryption_key_stops_start_up_without_echoing_it(tmp_path, new_key):
    bad = "this-is-a-secret-but-not-a-fernet-key"
    result = _check(tmp_path, PORTAL_KEY_ENCRYPTION_KEYS=f"{new_key},{bad}")
    assert result.returncode == 2
    assert "PORTAL_KEY_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key" in result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    assert bad not in output
    assert new_key not in output


def test_valid_encryption_keys_and_link_hours_pass_the_check(tmp_path, new_key, old_key):
    result = _check(
        tmp_path, PORTAL_KEY_ENCRYPTION_KEYS=f"{new_key}, {old_key}", PORTAL_KEY_LINK_HOURS="24"
    )
    assert result.returncode == 0, result.stderr


def test_link_hours_must_be_a_positive_number(tmp_path):
    result = _check(tmp_path, PORTAL_KEY_LINK_HOURS="0")
    assert result.returncode == 2
    assert "PORTAL_KEY_LINK_HOURS=0 is below the minimum of 1" in result.stderr


def test_link_hours_default_is_72(settings):
    # The test session does not set PORTAL_KEY_LINK_HOURS, so this is the settings default.
    assert "PORTAL_KEY_LINK_HOURS" not in os.environ
    assert settings.PORTAL_KEY_LINK_HOURS == 72


# --- One-time link tokens -----------------------------------------------------------------------


def test_link_tokens_are_long_random_and_url_safe():
    tokens = [new_link_token() for _ in range(200)]
    assert len(set(tokens)) == len(tokens)
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for token in tokens:
        assert len(token) >= 43  # 32 bytes, base64url without padding
        assert set(token) <= alphabet
    # Characters spread over (nearly) the whole alphabet: about 6 bits each, >= 256 bits a token.
    counts = Counter("".join(tokens))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values())
    assert entropy > 5.9
    assert entropy * len(tokens[0]) >= 256


def test_only_the_hash_is_stored_and_it_matches():
    token = new_link_token()
    stored = link_token_hash(token)
    assert len(stored) == 64  # SHA-256, hex
    assert int(stored, 16) >= 0
    assert token not in stored
    assert stored == link_token_hash(token)
    assert link_token_matches(token, stored)
    assert not link_token_matches(new_link_token(), stored)
    assert not link_token_matches(token[:-1], stored)
    assert not link_token_matches(token, stored.upper().replace("A", "B"))
    assert not link_token_matches(token, "")
    assert not link_token_matches(token, "é" * 64)  # a non-ASCII value does not raise


def test_link_token_match_is_constant_time(monkeypatch):
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", recording)
    token = new_link_token()
    assert link_token_matches(token, link_token_hash(token))
    assert len(calls) == 1
    assert calls[0][0] == link_token_hash(token).encode()


# --- Masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_id", "masked"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE"),
        ("AKIA0000000000WXYZ", "AKIA…WXYZ"),
        ("short", "…"),
        ("", "…"),
    ],
)
def test_mask_access_key_id(key_id, masked):
    assert mask_access_key_id(key_id) == masked


# --- Secret -------------------------------------------------------------------------------------


def test_secret_never_shows_its_value():
    secret = Secret(SECRET)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>60}",
        "{}".format(secret),  # noqa: UP032 - str.format must be masked too
        "%s %r" % (secret, secret),  # noqa: UP031 - the old formatting must be masked too
        repr([secret]),
        repr({"secret": secret}),
    ]
    for text in shown:
        assert SECRET not in text
    assert "********" in str(secret)
    assert secret.reveal() == SECRET


def test_secret_stays_out_of_logs_and_tracebacks(caplog):
    secret = Secret(SECRET)
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests.keys").info("issued %s (%r)", secret, secret)
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            logging.getLogger("tests.keys").exception("boom")
    assert caplog.records
    assert SECRET not in caplog.text


def test_secret_cannot_be_pickled_copied_or_serialised():
    secret = Secret(SECRET)
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps({"payload": [secret]})
    with pytest.raises(TypeError):
        copy.deepcopy(secret)
    with pytest.raises(TypeError):
        json.dumps({"secret": secret})
    with pytest.raises(TypeError):
        json.dumps({"secret": secret}, cls=DjangoJSONEncoder)
    with pytest.raises(TypeError):
        kombu_dumps({"args": [secret]})  # what Celery's json serializer uses


def test_secret_is_immutable_and_compares_by_value():
    secret = Secret(SECRET)
    with pytest.raises(AttributeError):
        secret._value = "changed"  # type: ignore[misc]
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    assert secret != SECRET  # never equal to a plain string
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
    assert not Secret("")
