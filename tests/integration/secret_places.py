"""Searching everything a deployment keeps for a secret (DESIGN.md section 6).

`kept_everywhere` gathers, as bytes per place: a `pg_dump` of the whole test database, every
key and value in every Redis database (the broker's queues, unacknowledged messages, results if
any), every process log, each e-mail (raw and with its parts decoded), the Celery task results,
the portal's files on disk (git mirrors) and this process's captured log records.

`places_holding` looks in them for the secret as written and as the encodings it could travel
in: JSON (escaped slashes), URL-encoding, hexadecimal (bytea columns) and base64 at each of the
three alignments (Celery message bodies are base64), standard and URL-safe.
"""

from __future__ import annotations

import base64
import binascii
import email
import json
import subprocess
from email import policy
from pathlib import Path
from urllib.parse import quote

import redis
from django.conf import settings
from django.db import connection

from tests.services import Services, _pg_bindir
from tests.stack import Stack

MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def encodings(secret: str) -> set[bytes]:
    """The byte strings that betray `secret` in any of the encodings it could be stored in."""
    raw = secret.encode()
    forms = {
        raw,
        secret.replace("/", "\\/").encode(),
        quote(secret, safe="").encode(),
        quote(secret, safe="").lower().encode(),
        binascii.hexlify(raw),
    }
    for shift in range(3):
        # Only the base64 characters that depend on the secret's bytes alone, whatever
        # surrounds it: the groups of 3 bytes lying wholly inside the secret.
        padded = b"\0" * shift + raw
        first_group = (shift + 2) // 3
        last_group = len(padded) // 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(padded)[4 * first_group : 4 * last_group]
            if len(encoded) >= 16:
                forms.add(encoded)
    return forms


def places_holding(secret: str, places: dict[str, bytes]) -> list[str]:
    """The names of the places where any encoding of `secret` occurs."""
    forms = encodings(secret)
    return sorted(name for name, data in places.items() if any(f in data for f in forms))


def database_dump(services: Services) -> bytes:
    """The whole test database as SQL text, schema and rows."""
    return subprocess.run(
        [
            str(_pg_bindir() / "pg_dump"),
            "-h",
            "127.0.0.1",
            "-p",
            str(services.pg_port),
            "-U",
            "app",
            "--no-owner",
            str(connection.settings_dict["NAME"]),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout


def redis_contents() -> dict[str, bytes]:
    """Every key of every Redis database, with its whole value, whatever its type."""
    places: dict[str, bytes] = {}
    base = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    databases = int(base.config_get("databases").get("databases") or 16)
    for number in range(databases):
        client = redis.Redis(
            host=base.connection_pool.connection_kwargs["host"],
            port=base.connection_pool.connection_kwargs["port"],
            db=number,
        )
        for key in client.scan_iter(count=1000):
            answer = client.type(key)
            kind = answer.decode() if isinstance(answer, bytes) else str(answer)
            value: object
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = b""
            places[f"redis db{number} {kind} {key.decode(errors='replace')}"] = (
                key + repr(value).encode()
            )
    return places


def mail_contents(folder: Path) -> dict[str, bytes]:
    """Each e-mail the file backend wrote: its raw bytes plus every part decoded."""
    places: dict[str, bytes] = {}
    for path in sorted(folder.glob("*")):
        for index, raw in enumerate(path.read_bytes().split(MAIL_SEPARATOR)):
            if not raw.strip():
                continue
            message = email.message_from_bytes(raw.strip(), policy=policy.default)
            decoded = [
                part.get_content().encode()
                for part in message.walk()
                if part.get_content_maintype() == "text"
            ]
            places[f"mail {path.name}#{index}"] = raw + b"\n".join(decoded)
    return places


def task_results() -> bytes:
    from django_celery_results.models import GroupResult, TaskResult

    rows = [
        *TaskResult.objects.values(),
        *GroupResult.objects.values(),
    ]
    return json.dumps(rows, default=str).encode()


def files_under(folder: Path, label: str) -> dict[str, bytes]:
    return {
        f"{label} {path.relative_to(folder)}": path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def kept_everywhere(stack: Stack, services: Services, captured_log: str) -> dict[str, bytes]:
    """Everything the portal's processes kept, by place; see the module docstring.

    The AWS emulator's own log is left out: it is AWS's side of the wire, where the key is born.
    """
    places: dict[str, bytes] = {
        "postgresql": database_dump(services),
        "celery task results": task_results(),
        "captured log of this process": captured_log.encode(),
    }
    places.update(redis_contents())
    places.update(
        {
            name: data
            for name, data in files_under(stack.logs, "log").items()
            if "aws-emulator" not in name
        }
    )
    places.update(mail_contents(stack.mail))
    places.update(files_under(stack.var, "var"))
    return places
