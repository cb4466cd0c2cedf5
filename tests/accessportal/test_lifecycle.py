"""Every lifecycle's table: each allowed move passes, each move it leaves out is refused, and
each move's effects run after it, from the table."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accessportal.effects import NOTICES, task_named
from accessportal.lifecycle import ANY, Announce, Change, Enqueue, Lifecycle, transition
from approvals.models import LIFECYCLE as REQUEST_LIFECYCLE
from approvals.models import RULE_SET_LIFECYCLE
from fulfilment.models import PR_LIFECYCLE
from inventory.models import SYNC_RUN_LIFECYCLE
from keys.models import KEY_LIFECYCLE
from recertification.models import CAMPAIGN_LIFECYCLE, CERTIFICATION_LIFECYCLE
from reports.models import EXPORT_LIFECYCLE
from vendors.models import RECIPIENT_CHANGE_LIFECYCLE, REVIEW_LIFECYCLE, VENDOR_LIFECYCLE
from verification.models import FINDING_LIFECYCLE, RUN_LIFECYCLE

LIFECYCLES: dict[str, Lifecycle] = {
    "access_request": REQUEST_LIFECYCLE,
    "approval_rule_set": RULE_SET_LIFECYCLE,
    "access_key": KEY_LIFECYCLE,
    "pull_request": PR_LIFECYCLE,
    "vendor": VENDOR_LIFECYCLE,
    "subprocessor_review": REVIEW_LIFECYCLE,
    "key_recipient_change": RECIPIENT_CHANGE_LIFECYCLE,
    "report_export": EXPORT_LIFECYCLE,
    "account_sync_run": SYNC_RUN_LIFECYCLE,
    "verification_run": RUN_LIFECYCLE,
    "external_access_finding": FINDING_LIFECYCLE,
    "recertification_campaign": CAMPAIGN_LIFECYCLE,
    "certification": CERTIFICATION_LIFECYCLE,
}


class _Row:
    """Stands in for a model instance: records what `save` was asked to write."""

    pk = 7

    def __init__(self, field: str, state: str) -> None:
        setattr(self, field, state)
        self.saved: list[list[str]] = []

    def save(self, *, update_fields: list[str]) -> None:
        self.saved.append(update_fields)


def _moves(allowed: bool) -> list[Any]:
    params = []
    for name, lc in LIFECYCLES.items():
        states = sorted(lc.states())
        for src in states:
            for dst in states:
                if lc.allows(src, dst) == allowed:
                    params.append(pytest.param(lc, src, dst, id=f"{name}:{src}->{dst}"))
    return params


@pytest.mark.parametrize(("lc", "src", "dst"), _moves(True))
def test_allowed_move_saves_and_reports(lc: Lifecycle, src: str, dst: str) -> None:
    lc = dataclasses.replace(lc, effects={})  # the effects are the next tests' subject
    row = _Row(lc.field, src)
    seen: list[tuple[str, str]] = []
    before = transition(
        row, lc, to=dst, extra_fields=("x",), on_change=lambda b, t: seen.append((b, t))
    )
    assert before == src
    assert getattr(row, lc.field) == dst
    assert row.saved == [[lc.field, *lc.touch, "x"]]
    assert seen == [(src, dst)]
    assert src in lc.sources(dst)


@pytest.mark.parametrize(("lc", "src", "dst"), _moves(False))
def test_forbidden_move_raises_and_saves_nothing(lc: Lifecycle, src: str, dst: str) -> None:
    row = _Row(lc.field, src)
    with pytest.raises(ValidationError, match="cannot become"):
        transition(row, lc, to=dst)
    assert getattr(row, lc.field) == src
    assert row.saved == []
    assert src not in lc.sources(dst)


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_groups_and_choices_name_only_known_states(name: str) -> None:
    lc = LIFECYCLES[name]
    for group in lc.groups.values():
        assert group <= lc.states()
    assert set(lc.labels) == lc.states()


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_effects_name_only_moves_the_table_allows(name: str) -> None:
    lc = LIFECYCLES[name]
    for src, dst in lc.effects:
        if src == ANY:
            assert lc.sources(dst), f"{name}: nothing moves to {dst}, its effects never run"
        else:
            assert lc.allows(src, dst), f"{name}: effects of {src}->{dst}, a move it refuses"


@pytest.mark.parametrize("name", sorted(LIFECYCLES))
def test_effects_name_real_tasks_and_notices(name: str) -> None:
    for effects in LIFECYCLES[name].effects.values():
        for effect in effects:
            if isinstance(effect, Enqueue):
                assert callable(task_named(effect.task).delay), effect.task
            else:
                assert isinstance(effect, Announce)
                assert effect.event in NOTICES, effect.event


def test_a_move_runs_its_own_effects_then_those_of_any_move_to_its_state() -> None:
    seen: list[tuple[str, Change]] = []

    def recorder(label: str) -> Any:
        return lambda change: seen.append((label, change))

    lc = Lifecycle(
        field="state",
        table={"a": frozenset({"b", "c"}), "b": frozenset({"c"}), "c": frozenset()},
        subject="A row",
        effects={("a", "c"): (recorder("a->c"),), (ANY, "c"): (recorder("*->c"),)},
    )
    row = _Row("state", "a")
    transition(row, lc, to="c", actor_id=3, comment="why")
    assert [label for label, _ in seen] == ["a->c", "*->c"]
    assert seen[0][1] == Change(obj=row, before="a", to="c", actor_id=3, comment="why")
    seen.clear()
    transition(_Row("state", "b"), lc, to="c")
    assert [label for label, _ in seen] == ["*->c"]
    seen.clear()
    with pytest.raises(ValidationError):
        transition(_Row("state", "c"), lc, to="b")
    assert seen == []  # a refused move has no consequences
