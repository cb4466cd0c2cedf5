"""One transition table per lifecycle, and the one generic way to move along it.

Each model with a status keeps its `Lifecycle` beside it (the table of allowed moves and the
named groups of states other code filters on). Services move a locked row with `transition`,
or, when a conditional queryset `.update()` is the concurrency guard (compare-and-set), with
`claim`, which can only match a row the table lets move.

Each (from, to) also names its consequences, in the same place: `effects` maps a move to the
tasks queued (`Enqueue`) and notices announced (`Announce`) once the transaction commits, with
the one robust idiom of `accessportal.effects`. A move from any state is keyed `(ANY, to)`.
`transition` runs them after the save, so a service that moves a row never schedules the
follow-on work by hand, and reading the table tells what happens after each move.

This module sits at the bottom of the stack: it imports no app of ours (audit is above it), so
auditing stays with the callers, or is passed in as `on_change`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accessportal.effects import enqueue_on_commit, notify_on_commit

# The source of an effect that follows a move to a state from wherever it came.
ANY = "*"


@dataclass(frozen=True)
class Change:
    """One move, as its effects see it: the row, where it came from, and who moved it."""

    obj: Any
    before: str
    to: str
    actor_id: int | None = None
    comment: str = ""


@dataclass(frozen=True)
class Enqueue:
    """Queues the Celery task at the dotted path `task` with the row's id after the commit.
    `when` narrows it to some rows (an IAM user's keys); `kwargs` are passed as they are.
    `object_id` names the attribute the task gets instead ("vendor_id": the work is the
    vendor's, not the row's)."""

    task: str
    when: Callable[[Any], bool] | None = None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    object_id: str = "pk"

    def __call__(self, change: Change) -> None:
        if self.when is None or self.when(change.obj):
            enqueue_on_commit(self.task, getattr(change.obj, self.object_id), **self.kwargs)


@dataclass(frozen=True)
class Announce:
    """Announces the notice `event` (one of `accessportal.effects.NOTICES`) about the access
    request the row belongs to (`request_id` names that attribute: "pk" for a request itself).
    `by_actor` says whether the notice names who moved it (a system move names nobody)."""

    event: str
    request_id: str = "pk"
    by_actor: bool = True

    def __call__(self, change: Change) -> None:
        notify_on_commit(
            access_request_id=getattr(change.obj, self.request_id),
            event=self.event,
            actor_id=change.actor_id if self.by_actor else None,
            comment=change.comment,
        )


Effect = Enqueue | Announce


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
    # {(from or ANY, to): effects}: what follows each move, after the commit.
    effects: Mapping[tuple[str, str], tuple[Effect, ...]] = dataclasses.field(default_factory=dict)

    def allows(self, current: str, to: str) -> bool:
        return to in self.table.get(current, frozenset())

    def sources(self, to: str) -> frozenset[str]:
        """The states that may move to `to`: what a conditional `.update()` claim filters on."""
        return frozenset(src for src, targets in self.table.items() if to in targets)

    def states(self) -> frozenset[str]:
        return frozenset(self.table) | frozenset().union(*self.table.values())

    def effects_of(self, before: str, to: str) -> tuple[Effect, ...]:
        """The effects of the move `before` -> `to`: its own, then those of any move to `to`."""
        return (*self.effects.get((before, to), ()), *self.effects.get((ANY, to), ()))

    def group(self, name: str) -> frozenset[str]:
        return self.groups[name]

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


def claim(rows: Any, lifecycle: Lifecycle, *, to: str, **fields: Any) -> int:
    """Moves every row of the queryset `rows` that the table lets move to `to`, in one
    conditional `.update()` (compare-and-set: the condition is the concurrency guard, so of two
    workers claiming the same row one wins), with `fields` written alongside; returns how many
    moved. No effects run: a bulk claim's consequences are its caller's (say why there)."""
    status = lifecycle.field
    return int(
        rows.filter(**{f"{status}__in": lifecycle.sources(to)}).update(**{status: to}, **fields)
    )


def each_locked(rows: Any, act: Callable[[Any], None]) -> int:
    """Runs `act(row)` for each row of the queryset `rows`, each in its own transaction with
    the row locked (`select_for_update(skip_locked=True)`, its own table only) and `rows`'
    condition checked again under the lock: of two workers running the same pass, one acts on
    each row and the other skips it, so a reminder goes out once. Returns how many rows were
    acted on."""
    done = 0
    for pk in list(rows.order_by("pk").values_list("pk", flat=True)):
        with transaction.atomic():
            locked = rows.filter(pk=pk).select_for_update(skip_locked=True, of=("self",)).first()
            if locked is not None:
                act(locked)
                done += 1
    return done


def transition(
    obj: Any,
    lifecycle: Lifecycle,
    *,
    to: str,
    extra_fields: Iterable[str] = (),
    on_change: Callable[[str, str], None] | None = None,
    error: Callable[[str, str], ValidationError] | None = None,
    actor_id: int | None = None,
    comment: str = "",
) -> str:
    """Moves `obj` (locked by the caller, inside its transaction) to `to` if the table allows
    it, saves the status with `extra_fields` (which the caller has already set) and returns the
    previous state. `on_change(before, to)` runs after the save: the caller's audit row. Then
    the table's effects of the move are scheduled for after the commit (`actor_id` and
    `comment` reach the notices). `error` builds the ValidationError when a caller keeps its
    own wording."""
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
    change = Change(obj=obj, before=current, to=to, actor_id=actor_id, comment=comment)
    for effect in lifecycle.effects_of(current, to):
        effect(change)
    return current
