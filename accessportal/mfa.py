"""Whether the current session was verified with a second factor (allauth's MFA)."""

from __future__ import annotations

from django.http import HttpRequest


def session_mfa_verified(request: HttpRequest) -> bool:
    """True when this session's sign-in included an MFA step (TOTP or a recovery code).

    allauth records each authentication step of the session; its "mfa" record is written only
    after a second factor was checked. The reader lives in allauth's internal flows module, so
    it is wrapped here, in one place, with a test pinning its behaviour.
    """
    from allauth.account.internal.flows.login import get_authentication_records

    records = get_authentication_records(request, request.user)  # type: ignore[arg-type]
    return any(record.get("method") == "mfa" for record in records)
