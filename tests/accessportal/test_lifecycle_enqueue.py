"""`Enqueue` gives its task the row's id, or the attribute it names (`object_id`)."""

from __future__ import annotations

from typing import Any

import pytest

from accessportal import lifecycle
from accessportal.lifecycle import Change, Enqueue

pytestmark = pytest.mark.pure


class _Row:
    pk = 7
    vendor_id = 3


def test_enqueue_passes_the_rows_id_or_the_named_attribute(monkeypatch) -> None:
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        lifecycle, "enqueue_on_commit", lambda task, *args, **kwargs: queued.append((task, args))
    )
    change = Change(obj=_Row(), before="a", to="b")
    Enqueue("app.tasks.own_task")(change)
    Enqueue("app.tasks.vendor_task", object_id="vendor_id")(change)
    assert queued == [("app.tasks.own_task", (7,)), ("app.tasks.vendor_task", (3,))]
