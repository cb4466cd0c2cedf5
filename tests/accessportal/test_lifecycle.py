"""Every lifecycle's table: each allowed move passes, each move it leaves out is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accessportal.lifecycle import Lifecycle, transition
from approvals.models import LIFECYCLE as REQUEST_LIFECYCLE

LIFECYCLES: dict[str, Lifecycle] = {
    "access_request": REQUEST_LIFECYCLE,
}


class _Row:
    """Stands in for a model instance: records what `save` was asked to write."""

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
