"""Personal API tokens and the last second-factor check of each user (README "REST API").

A token is shown once, when created; the database keeps its public id and a SHA-256 of its
secret (the secret is 256 random bits, so a slow hash would add nothing but latency to each
call). Its scope caps what it may do whatever its owner's roles: read < request < approve.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        # In order of power: each scope includes the ones before it (`scope_allows`).
        READ = "read", _("Read")
        REQUEST = "request", _("Read and request")
        APPROVE = "approve", _("Read, request and approve")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_sha256 = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class MfaVerification(models.Model):
    """When the user last passed the second factor in the portal (sign-in or re-check).

    An approving token acts only while this is recent (PORTAL_API_MFA_HOURS): a stolen token
    of a security member cannot approve once its owner stops proving their second factor.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_verification"
    )
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user_id} at {self.verified_at:%Y-%m-%d %H:%M}"
