"""Exceptions raised by the change-set generator.

Two families, because the caller reacts differently to each: a `GrantError` means the grant
itself is wrong (show it next to the form field it names), a `LayoutError` means the repository
is not in a shape the generator can edit safely (a human has to look at the repository).
"""

from __future__ import annotations


class SubstrateError(Exception):
    """Base class of every error the generator raises on purpose."""


class GrantError(SubstrateError, ValueError):
    """The grant is invalid: `field` names the offending grant field (e.g. ``"role_name"``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LayoutError(SubstrateError):
    """The repository cannot be read or edited safely (unexpected shape, foreign file, ...)."""


class UnsafePathError(LayoutError):
    """A path would leave the repository (``..``, absolute, or through a symlink)."""


class ConflictError(LayoutError):
    """A file the grant needs exists but was not written by the portal for this vendor."""
