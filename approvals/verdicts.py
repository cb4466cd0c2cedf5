"""The answer of a permission rule: allowed, or refused with the words and the exception.

Its own module so that the policy (`approvals.policy`) and the approval rules
(`approvals.rules`), which the policy asks, answer in the same shape without importing each
other.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError


@dataclass(frozen=True)
class Verdict:
    """An answer of the policy: allowed, or refused with a reason and the exception to raise."""

    reason: str = ""
    # PermissionDenied when the user may not (who), ValidationError when the request may not
    # (its state); None when allowed.
    exception: type[Exception] | None = None

    @property
    def allowed(self) -> bool:
        return self.exception is None

    def __bool__(self) -> bool:
        return self.allowed

    def enforce(self) -> None:
        """Raises the refusal, as the services always have; nothing when allowed."""
        if self.exception is not None:
            raise self.exception(self.reason)


ALLOWED = Verdict()


def denied(reason: str) -> Verdict:
    return Verdict(reason, PermissionDenied)


def invalid(reason: str) -> Verdict:
    return Verdict(reason, ValidationError)
