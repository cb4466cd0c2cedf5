"""System checks for `manage.py check --deploy`: local defaults left in a production setup."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from accessportal.preflight import cache_is_per_process
from provisioning.keys import encryption_configured

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@register(Tags.security, deploy=True)
def local_defaults_in_production(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Warns when a deployment still uses a default meant for one laptop, and fails on one that
    would weaken a security control."""
    warnings: list[CheckMessage] = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(
            Warning(
                "DATABASE_URL is SQLite.",
                hint="Set DATABASE_URL=postgres://... for production.",
                id="accessportal.W001",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        warnings.append(
            Warning(
                "CELERY_BROKER_URL is the folder broker, which serves one machine only.",
                hint="Set CELERY_BROKER_URL=redis://...",
                id="accessportal.W002",
            )
        )
    if settings.AWS_ENDPOINT_URL and urlsplit(settings.AWS_ENDPOINT_URL).hostname in _LOOPBACK:
        warnings.append(
            Warning(
                "AWS_ENDPOINT_URL points at the local AWS emulator.",
                hint="Set AWS_ENDPOINT_URL= (empty) to use real AWS.",
                id="accessportal.W003",
            )
        )
    cache_backend = str(settings.CACHES["default"]["BACKEND"])
    if cache_is_per_process():
        # allauth counts failed sign-ins in the cache, and the key link its requests: per
        # process, each gunicorn worker and each machine would allow its own tries.
        warnings.append(
            Error(
                "CACHE_URL is not shared between processes, so login lockouts and rate limits "
                "count per process.",
                hint="Set CACHE_URL=redis://HOST:6379/1.",
                id="accessportal.E006",
            )
        )
    elif cache_backend.endswith("FileBasedCache"):
        warnings.append(
            Warning(
                "CACHE_URL is a folder, shared by the processes of one machine only.",
                hint="Set CACHE_URL=redis://HOST:6379/1.",
                id="accessportal.W006",
            )
        )

    if not encryption_configured():
        warnings.append(
            Warning(
                "PORTAL_KEY_ENCRYPTION_KEYS is empty: vendor access key secrets would be encrypted "
                "with a key derived from DJANGO_SECRET_KEY.",
                hint="Set PORTAL_KEY_ENCRYPTION_KEYS to one or more Fernet keys.",
                id="accessportal.W005",
            )
        )
    if settings.FORGE == "local":
        warnings.append(
            Warning(
                "FORGE=local keeps pull requests inside the portal.",
                hint="Set FORGE=github or FORGE=gitlab with FORGE_TOKEN.",
                id="accessportal.W004",
            )
        )
    return warnings
