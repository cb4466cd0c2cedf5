"""Strict reading of environment variables for settings.py.

django-environ parses URLs well but forgives too much elsewhere (`DJANGO_DEBUG=maybe` silently
means False, a bad integer raises a bare ValueError). The portal guards AWS access, so a
misconfiguration must stop start-up with a message that names the variable. `Config` collects
every problem instead of stopping at the first, so the operator fixes them in one go.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
# A portal group's name as SSO maps it and the approval rules name it (approvals/rules.py): one
# pattern, so a group one can give the other can name. Django's `Group.name` holds 150
# characters; the pattern keeps names that read the same in the admin, the audit log and rules.
GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,149}")
# Every user is put in it on creation (accessportal/signals.py): SSO must not take it away.
_UNMANAGED_GROUPS = frozenset({"requesters"})


class Config:
    """Reads typed values from the environment and records what is wrong with them."""

    def __init__(self, environ_: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ_ is None else environ_
        self.errors: list[str] = []
        self._env = environ.Env()

    def _raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else value.strip()

    def string(self, name: str, *, default: str, allow_empty: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if not value and not allow_empty:
            self.errors.append(f"{name} is set but empty.")
            return default
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self._raw(name)
        if value is None or value == "":
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        self.errors.append(f"{name}={value!r} is not a boolean (use true or false).")
        return default

    def integer(self, name: str, *, default: int, minimum: int = 0) -> int:
        value = self._raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            self.errors.append(f"{name}={value!r} is not a whole number.")
            return default
        if number < minimum:
            self.errors.append(f"{name}={number} is below the minimum of {minimum}.")
            return default
        return number

    def strings(self, name: str, *, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, *, choices: tuple[str, ...], default: str) -> str:
        value = self._raw(name)
        if value is None or value == "":
            return default
        if value not in choices:
            self.errors.append(f"{name}={value!r} must be one of: {', '.join(choices)}.")
            return default
        return value

    def path(self, name: str, *, default: Path) -> Path:
        value = self._raw(name)
        return Path(value).expanduser().resolve() if value else default

    def url(self, name: str, *, default: str) -> str:
        value = self._raw(name) or default
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            self.errors.append(f"{name}={value!r} is not an http(s) URL.")
            return default
        return value.rstrip("/")

    def database(self, name: str, *, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        scheme = urlsplit(value).scheme
        if scheme not in _DATABASE_SCHEMES:
            self.errors.append(
                f"{name} has the unsupported scheme {scheme!r}: use postgres://USER:PASSWORD@HOST"
                ":PORT/NAME or sqlite:///PATH."
            )
            value = default
        try:
            return dict(self._env.db_url_config(value))
        except Exception as exc:  # noqa: BLE001 - environ raises several types for bad URLs
            self.errors.append(f"{name} is not a valid database URL ({exc}).")
            return dict(self._env.db_url_config(default))

    def cache(self, name: str, *, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        try:
            return dict(self._env.cache_url_config(value))
        except Exception as exc:  # noqa: BLE001 - environ raises several types for bad URLs
            self.errors.append(f"{name} is not a valid cache URL ({exc}).")
            return dict(self._env.cache_url_config(default))

    def email(self, name: str, *, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        try:
            return dict(self._env.email_url_config(value))
        except Exception as exc:  # noqa: BLE001 - environ raises several types for bad URLs
            self.errors.append(f"{name} is not a valid e-mail URL ({exc}).")
            return dict(self._env.email_url_config(default))

    def tier_months(self, name: str, *, default: dict[str, int]) -> dict[str, int]:
        """A "tier:months" list covering every tier, e.g. critical:6,high:12,medium:12,low:24."""
        value = self._raw(name)
        if not value:
            return default
        result = dict(default)
        for pair in value.split(","):
            tier, _, months = pair.strip().partition(":")
            if tier not in default or not months.strip().isdigit() or int(months) < 1:
                self.errors.append(
                    f"{name}: {pair.strip()!r} is not tier:months with a tier among "
                    f"{', '.join(default)} and at least one month."
                )
                return default
            result[tier] = int(months)
        return result

    def sso_group_map(self, name: str) -> dict[str, list[str]]:
        """A JSON object from identity-provider group names to lists of portal group names, e.g.
        {"okta-secops": ["security", "security-leads"], "okta-audit": ["auditors"]}.

        The error names the variable and the entry, never echoes the whole value: the operator
        sees what to fix, and a typo in a long map is found at once.
        """
        value = self._raw(name)
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            self.errors.append(f"{name} is not valid JSON ({exc.msg} at character {exc.pos}).")
            return {}
        if not isinstance(parsed, dict):
            self.errors.append(
                f'{name} must be a JSON object such as {{"idp-group": ["security"]}}.'
            )
            return {}
        result: dict[str, list[str]] = {}
        problems: list[str] = []
        for idp_group, portal_groups in parsed.items():
            if not idp_group.strip():
                problems.append(f"{name}: an identity-provider group name is empty.")
                continue
            if not isinstance(portal_groups, list) or not all(
                isinstance(group, str) for group in portal_groups
            ):
                problems.append(f"{name}: {idp_group!r} must map to a list of group names.")
                continue
            for group in portal_groups:
                if not GROUP_NAME.fullmatch(group):
                    problems.append(
                        f"{name}: {idp_group!r} maps to {group!r}, which is not a group name "
                        "(letters, digits, dot, dash and underscore, starting with a letter or "
                        "digit; at most 150)."
                    )
                elif group in _UNMANAGED_GROUPS:
                    problems.append(
                        f"{name}: {idp_group!r} maps to {group!r}, which every user has already."
                    )
            result[idp_group] = sorted(set(portal_groups))
        if problems:
            self.errors.extend(problems)
            return {}
        return result

    def oidc_providers(self) -> dict[str, Any]:
        """The allauth OpenID Connect provider, when OIDC_SERVER_URL is set."""
        server_url = self._raw("OIDC_SERVER_URL")
        if not server_url:
            return {}
        missing = [n for n in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET") if not self._raw(n)]
        if missing:
            self.errors.append(
                f"OIDC_SERVER_URL is set, so {' and '.join(missing)} must be set too."
            )
            return {}
        return {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": self.string("OIDC_PROVIDER_ID", default="sso"),
                        "name": self.string("OIDC_PROVIDER_NAME", default="Single sign-on"),
                        "client_id": self._raw("OIDC_CLIENT_ID"),
                        "secret": self._raw("OIDC_CLIENT_SECRET"),
                        "settings": {"server_url": self.url("OIDC_SERVER_URL", default=server_url)},
                    }
                ],
            }
        }


# SQLite keeps its write-ahead log and shared-memory index beside the database; it creates them
# with the database file's own permissions.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def owner_only_sqlite(name: str) -> None:
    """Creates the SQLite database file `name` (and its folder) readable by its owner only,
    and tightens an existing one: it holds password hashes, sessions and the audit log, and the
    default umask would leave it world-readable. A folder the portal creates is owner-only too.

    In-memory and URI databases are left alone; a file that is not ours to change keeps its mode.
    """
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            if companion.exists() and companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
        except OSError:
            pass  # another user's file: the operator's choice
