"""Personal API tokens: created in the portal and shown once, kept as a hash, revoked by their
owner or by security, and each use audited (README "REST API").

A token reads `vap_<key id>_<secret>`. The key id finds the row; the secret is compared with
its SHA-256 in constant time. Which rules apply to a call is not decided here: the API calls
the same services as the pages, passing the token's owner as the actor and, as `mfa_verified`,
whether this token may stand for a second factor (`token_mfa_verified`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accessportal.roles import (
    Role,
    can_write,
    has_role,
    require_verified_security,
    second_factor_needed,
    user_roles,
)
from api.models import ApiToken, MfaVerification
from audit.services import audit_record, audit_snapshot
from provisioning.text import unsafe_characters

TOKEN_PREFIX = "vap"  # noqa: S105 - the public prefix, not a secret
KEY_ID_BYTES = 6  # 12 hex characters: the public, looked-up half
SECRET_BYTES = 32  # 256 bits: no guessing, no need for a slow hash
SCOPE_ORDER = [ApiToken.Scope.READ, ApiToken.Scope.REQUEST, ApiToken.Scope.APPROVE]
# What an audit row says of a token: never its hash.
TOKEN_AUDIT_FIELDS = ["id", "owner", "name", "key_id", "scope", "expires_at", "revoked_at"]


class TokenRefused(Exception):
    """The presented token is malformed, unknown, revoked or expired. The message says which
    in words safe to return (it never repeats the token)."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its one showing: `plaintext` is not stored anywhere."""

    token: ApiToken
    plaintext: str


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_allows(scope: str, needed: str) -> bool:
    """True when a token of `scope` may do what needs `needed` (scopes include the lower ones)."""
    return SCOPE_ORDER.index(ApiToken.Scope(scope)) >= SCOPE_ORDER.index(ApiToken.Scope(needed))


def scopes_for(user: Any) -> list[str]:
    """The scopes `user` may give a token: none for who cannot sign in, read for auditors (who
    change nothing), approve only for security."""
    if not user_roles(user):
        return []
    if not can_write(user):
        return [ApiToken.Scope.READ]
    if has_role(user, Role.SECURITY):
        return list(SCOPE_ORDER)
    return [ApiToken.Scope.READ, ApiToken.Scope.REQUEST]


def mfa_verified_now(user: Any) -> None:
    """Remembers that `user` passed their second factor just now (signals.py, token_create)."""
    MfaVerification.objects.update_or_create(user=user, defaults={"verified_at": timezone.now()})


def mfa_recently_verified(user: Any) -> bool:
    """True when `user` passed their second factor within PORTAL_API_MFA_HOURS."""
    since = timezone.now() - timedelta(hours=settings.PORTAL_API_MFA_HOURS)
    return MfaVerification.objects.filter(user=user, verified_at__gte=since).exists()


def token_mfa_verified(token: ApiToken) -> bool:
    """What the API passes as `mfa_verified` to the services for a call with `token`.

    Only an approving token stands for a second factor, and only while its owner proved theirs
    recently in the portal: a token alone, like a password alone, never approves.
    """
    return token.scope == ApiToken.Scope.APPROVE and mfa_recently_verified(token.owner)


def token_name_problem(name: str) -> str | None:
    if not name:
        return _("Name the token after where it is used (for example, the CI system).")
    if len(name) > 100:
        return _("At most 100 characters (this one has %(n)s).") % {"n": len(name)}
    found = unsafe_characters(name)
    if found:
        return _("Remove the invisible characters: %(found)s.") % {"found": ", ".join(found)}
    return None


@transaction.atomic
def token_create(
    *, owner: Any, name: str, scope: str, expires_on: date | None, mfa_verified: bool
) -> IssuedToken:
    """A new token of `owner`'s, shown once. `mfa_verified` is the creating session's.

    An approving token needs a security member with a second factor, now: creating one is a
    security write. Every token has an end date, at most PORTAL_API_TOKEN_MAX_DAYS away.
    """
    errors: dict[str, list[str]] = {}
    name = name.strip()
    problem = token_name_problem(name)
    if problem:
        errors["name"] = [problem]
    allowed = scopes_for(owner)
    if scope not in allowed:
        errors["scope"] = [
            _("Your roles allow these scopes: %(scopes)s.") % {"scopes": ", ".join(allowed)}
            if allowed
            else _("You may not hold API tokens.")
        ]
    today = timezone.localdate()
    cap = today + timedelta(days=settings.PORTAL_API_TOKEN_MAX_DAYS)
    if expires_on is None:
        errors["expires_on"] = [_("Every token needs an end date.")]
    elif expires_on <= today:
        errors["expires_on"] = [_("Choose a date after today.")]
    elif expires_on > cap:
        errors["expires_on"] = [
            _("A token lasts at most %(days)s days: %(cap)s at the latest.")
            % {"days": settings.PORTAL_API_TOKEN_MAX_DAYS, "cap": cap.isoformat()}
        ]
    if errors:
        raise ValidationError(errors)
    if scope == ApiToken.Scope.APPROVE and not mfa_verified:
        raise ValidationError({"scope": [second_factor_needed()]})
    assert expires_on is not None  # noqa: S101  refused above otherwise
    if mfa_verified:
        mfa_verified_now(owner)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken.objects.create(
        owner=owner,
        name=name,
        key_id=secrets.token_hex(KEY_ID_BYTES),
        secret_sha256=_secret_digest(secret),
        scope=scope,
        # The end of the chosen day, in the portal's time zone.
        expires_at=timezone.make_aware(
            datetime.combine(expires_on + timedelta(days=1), datetime.min.time())
        ),
    )
    audit_record(
        actor=owner,
        action="api.token_create",
        obj=token,
        after=audit_snapshot(token, TOKEN_AUDIT_FIELDS),
    )
    return IssuedToken(token, f"{TOKEN_PREFIX}_{token.key_id}_{secret}")


def tokens_visible_to(user: Any) -> QuerySet[ApiToken]:
    """A user's own tokens; security sees everyone's (to revoke a leaked one)."""
    tokens = ApiToken.objects.select_related("owner", "revoked_by")
    if has_role(user, Role.SECURITY):
        return tokens
    return tokens.filter(owner=user.pk)


@transaction.atomic
def token_revoke(*, token_id: int, actor: Any, mfa_verified: bool) -> ApiToken:
    """Ends a token now. Its owner may, always (an auditor too: giving up a credential changes
    nothing else); security may for anyone, with a second factor."""
    token = ApiToken.objects.select_for_update().get(pk=token_id)
    if not (user_roles(actor) and actor.pk == token.owner_id):
        require_verified_security(
            actor,
            mfa_verified=mfa_verified,
            refusal=_("Only the token's owner or the security team may revoke it."),
        )
    if token.revoked_at is not None:
        return token  # revoking twice changes nothing (a retried call, two tabs)
    before = audit_snapshot(token, TOKEN_AUDIT_FIELDS)
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        actor=actor,
        action="api.token_revoke",
        obj=token,
        before=before,
        after=audit_snapshot(token, TOKEN_AUDIT_FIELDS),
    )
    return token


def token_authenticate(presented: str) -> ApiToken:
    """The live token `presented` names, or TokenRefused. A revoked or expired token's use is
    audited (someone still holds it); an unknown one is not (it names nobody)."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise TokenRefused(_("Send a portal API token: Authorization: Bearer vap_..."))
    key_id, secret = parts[1], parts[2]
    token = ApiToken.objects.select_related("owner").filter(key_id=key_id).first()
    if token is None or not hmac.compare_digest(token.secret_sha256, _secret_digest(secret)):
        raise TokenRefused(_("This token is not valid."))
    if token.is_live and token.owner.is_active:
        return token
    why = _("This token was revoked.") if token.revoked_at else _("This token has expired.")
    if not token.owner.is_active:
        why = _("This token's owner can no longer sign in.")
    with transaction.atomic():
        audit_record(
            actor=token.owner, action="api.token_refused", obj=token, after={"reason": why}
        )
    raise TokenRefused(why)


def token_use_record(token: ApiToken, *, method: str, path: str, status: int) -> None:
    """One audit row per call made with `token` (README "REST API": every use audited)."""
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        audit_record(
            actor=token.owner,
            action="api.token_use",
            obj=token,
            after={"method": method, "path": path[:500], "status": status, "scope": token.scope},
        )


def token_describe(token: ApiToken) -> dict[str, Any]:
    """What the pages and the API show of a token (never its secret or hash)."""
    return {
        "id": token.pk,
        "name": token.name,
        "key_id": token.key_id,
        "owner": token.owner.get_username(),
        "scope": token.scope,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "live": token.is_live,
    }
