"""Pure building blocks for vendor access keys (SOC2.md section 3 rule 5, DESIGN.md section 6).

- The secret access key is stored only encrypted (`encrypt_secret` / `decrypt_secret`), with
  MultiFernet over `PORTAL_KEY_ENCRYPTION_KEYS` (comma-separated, first = current; older keys
  still decrypt, and `rotate_ciphertext` re-encrypts under the current one). The settings are
  read at call time, so a rotation takes effect without a re-import.
- The one-time link's token is long and random (`new_link_token`) and stored only as its
  SHA-256 (`link_token_hash`), compared in constant time (`link_token_matches`).
- `Secret` carries a plaintext value around without it reaching logs, tracebacks, task
  messages or JSON: its repr/str/format are masked, and pickling or JSON-serialising it fails.

With `PORTAL_KEY_ENCRYPTION_KEYS` empty, a local-only key is derived from `SECRET_KEY` (HKDF);
`encryption_configured()` says whether real keys are set, for a deploy check to call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any, NoReturn

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Bytes of randomness in a one-time link token (token_urlsafe gives 43 characters for 32).
LINK_TOKEN_BYTES = 32
_MASK = "********"
_LOCAL_KEY_INFO = b"accessportal provisioning.keys local-only access-key encryption"


class SecretDecryptionError(Exception):
    """A ciphertext could not be decrypted with any key in PORTAL_KEY_ENCRYPTION_KEYS."""


class Secret:
    """A secret value that never shows itself by accident.

    `reveal()` is the only way to the value. repr/str/format print a mask; pickling (Celery's
    pickle serializer, multiprocessing, caches) and JSON serialising raise `TypeError`, so a
    `Secret` cannot slip into a task message, a task result or a cached object.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The plaintext: use it only at the point where it must leave the process."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # equality is by value; never a dict key

    def __bool__(self) -> bool:
        return bool(self._value)

    def _refuse(self, *args: Any) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or copied: pass an id, not the secret")

    __reduce__ = _refuse
    __reduce_ex__ = _refuse
    __getstate__ = _refuse
    __copy__ = _refuse
    __deepcopy__ = _refuse


def _plaintext(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


# --- Encryption at rest -------------------------------------------------------------------------


def encryption_configured() -> bool:
    """True when PORTAL_KEY_ENCRYPTION_KEYS is set; False means the local-only derived key is in
    use, which a `check --deploy` warning should report."""
    return bool(getattr(settings, "PORTAL_KEY_ENCRYPTION_KEYS", []))


def _local_key() -> bytes:
    """A Fernet key derived from SECRET_KEY: for `make run` and tests only (not rotatable, and
    it changes with SECRET_KEY)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LOCAL_KEY_INFO).derive(
        str(settings.SECRET_KEY).encode()
    )
    return base64.urlsafe_b64encode(derived)


def _fernet() -> MultiFernet:
    keys = list(getattr(settings, "PORTAL_KEY_ENCRYPTION_KEYS", []))
    try:
        fernets = [Fernet(key) for key in keys] if keys else [Fernet(_local_key())]
    except (ValueError, TypeError):
        # settings.py validates the variable at start-up; this is a setting overridden at run time.
        raise SecretDecryptionError(
            "PORTAL_KEY_ENCRYPTION_KEYS holds a value that is not a Fernet key"
        ) from None
    return MultiFernet(fernets)


def encrypt_secret(plaintext: str | Secret) -> bytes:
    """The Fernet token for `plaintext`, under the current (first) key."""
    return _fernet().encrypt(_plaintext(plaintext).encode())


def decrypt_secret(token: bytes) -> str:
    """The plaintext of a token from `encrypt_secret`, trying every configured key."""
    try:
        return _fernet().decrypt(token).decode()
    except InvalidToken:
        raise SecretDecryptionError(
            "cannot decrypt the stored access key secret with any key in "
            "PORTAL_KEY_ENCRYPTION_KEYS (the key that encrypted it was removed, or the "
            "ciphertext is damaged)"
        ) from None


def rotate_ciphertext(token: bytes) -> bytes:
    """`token` re-encrypted under the current key (after a new key is put first)."""
    try:
        return _fernet().rotate(token)
    except InvalidToken:
        raise SecretDecryptionError(
            "cannot re-encrypt the stored access key secret: no key in "
            "PORTAL_KEY_ENCRYPTION_KEYS decrypts it"
        ) from None


# --- One-time link tokens -----------------------------------------------------------------------


def new_link_token() -> str:
    """A URL-safe token with LINK_TOKEN_BYTES of randomness, for the one-time link."""
    return secrets.token_urlsafe(LINK_TOKEN_BYTES)


def link_token_hash(token: str) -> str:
    """What is stored for a link token: its SHA-256, hex (the token itself never is)."""
    return hashlib.sha256(token.encode()).hexdigest()


def link_token_matches(token: str, stored_hash: str) -> bool:
    """Whether `token` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(link_token_hash(token).encode(), stored_hash.encode())


# --- Display -----------------------------------------------------------------------------------


def mask_access_key_id(access_key_id: str) -> str:
    """ "AKIAIOSFODNN7EXAMPLE" -> "AKIA…MPLE": enough to tell keys apart on a page or a log line."""
    if len(access_key_id) < 12:
        return "…"
    return f"{access_key_id[:4]}…{access_key_id[-4:]}"
