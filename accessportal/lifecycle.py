"""One transition table per lifecycle, and the one generic way to move along it.

Each model with a status keeps its `Lifecycle` beside it (the table of allowed moves and the
named groups of states other code filters on). Services move a locked row with `transition`,
or, when a conditional queryset `.update()` is the concurrency guard (compare-and-set), filter
on `lifecycle.sources(to)` so the claim can only match a row the table lets move.

This module sits at the bottom of the stack: it imports no app of ours (audit is above it), so
auditing stays with the callers, or is passed in as `on_change`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, kw_only=True)
class Lifecycle:
    """The allowed moves of one model's status field: {from: frozenset(to)}."""

    field: str
    table: Mapping[str, frozenset[str]]
    groups: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    # Label lookup for the error message (the model's TextChoices), and how it names the row
    # ("A request", "An access key": the article belongs to the noun in translation).
    labels: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    subject: Any
    # Saved with every move besides the status field (auto_now fields, when the model has one).
    touch: tuple[str, ...] = ("updated_at",)

    def allows(self, current: str, to: str) -> bool:
        return to in self.table.get(current, frozenset())

    def sources(self, to: str) -> frozenset[str]:
        """The states that may move to `to`: what a conditional `.update()` claim filters on."""
        return frozenset(src for src, targets in self.table.items() if to in targets)

    def states(self) -> frozenset[str]:
        return frozenset(self.table) | frozenset().union(*self.table.values())

    def label(self, state: str) -> str:
        return str(self.labels.get(state, state))

    def check(self, current: str, to: str) -> None:
        if not self.allows(current, to):
            raise ValidationError(
                _("%(subject)s that is %(from)s cannot become %(to)s.")
                % {"subject": self.subject, "from": self.label(current), "to": self.label(to)}
            )


def choice_labels(choices: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """{value: label} of a TextChoices' `.choices`, for `Lifecycle.labels`."""
    return dict(choices)


def transition(
    obj: Any,
    lifecycle: Lifecycle,
    *,
    to: str,
    extra_fields: Iterable[str] = (),
    on_change: Callable[[str, str], None] | None = None,
    error: Callable[[str, str], ValidationError] | None = None,
) -> str:
    """Moves `obj` (locked by the caller, inside its transaction) to `to` if the table allows
    it, saves the status with `extra_fields` (which the caller has already set) and returns the
    previous state. `on_change(before, to)` runs after the save: the caller's audit row.
    `error` builds the ValidationError when a caller keeps its own wording."""
    current = getattr(obj, lifecycle.field)
    if not lifecycle.allows(current, to):
        if error is not None:
            raise error(current, to)
        lifecycle.check(current, to)
    setattr(obj, lifecycle.field, to)
    fields = dict.fromkeys([lifecycle.field, *lifecycle.touch, *extra_fields])
    obj.save(update_fields=list(fields))
    if on_change is not None:
        on_change(current, to)
    return current
