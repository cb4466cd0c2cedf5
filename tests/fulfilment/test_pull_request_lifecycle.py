"""How a pull request row records the state a forge reports (`forge_state_copy`): a move the
table allows goes through it, the same state saves only the other fields, and a move it
refuses is logged and recorded as the forge says (the table itself: test_lifecycle.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fulfilment.models import PR_LIFECYCLE, PullRequest, forge_state_copy

pytestmark = pytest.mark.pure
State = PullRequest.State


def _row(monkeypatch: pytest.MonkeyPatch, state: str) -> tuple[PullRequest, list[Any]]:
    row = PullRequest(pk=5, state=state)
    saved: list[Any] = []
    monkeypatch.setattr(row, "save", lambda **kwargs: saved.append(kwargs["update_fields"]))
    return row, saved


def test_an_allowed_move_is_saved_with_the_other_fields(monkeypatch, caplog) -> None:
    row, saved = _row(monkeypatch, State.PENDING)
    forge_state_copy(row, "open", extra_fields=["number", "url"])
    assert row.state == State.OPEN
    assert saved == [["state", "updated_at", "number", "url"]]
    assert caplog.records == []


def test_the_same_state_saves_only_the_other_fields(monkeypatch, caplog) -> None:
    row, saved = _row(monkeypatch, State.OPEN)
    forge_state_copy(row, "open", extra_fields=["number", "url"])
    assert row.state == State.OPEN
    assert saved == [["number", "url", "updated_at"]]
    assert caplog.records == []


def test_a_refused_move_is_logged_and_recorded_as_the_forge_says(monkeypatch, caplog) -> None:
    # A stale "open" from the forge about a row merged meanwhile: written as before.
    assert not PR_LIFECYCLE.allows(State.MERGED, State.OPEN)
    row, saved = _row(monkeypatch, State.MERGED)
    with caplog.at_level(logging.WARNING, logger="fulfilment.models.pullrequests"):
        forge_state_copy(row, "open", extra_fields=["number"])
    assert row.state == State.OPEN
    assert saved == [["state", "number", "updated_at"]]
    [record] = caplog.records
    assert "is merged; the forge reports open" in record.getMessage()


def test_the_groups_beside_the_table() -> None:
    assert PR_LIFECYCLE.group("active") == {State.PENDING, State.OPEN}
    assert PR_LIFECYCLE.group("ended_revocation") == {State.FAILED, State.CLOSED}
    # What a revocation claim and a close of a grant can match.
    assert PR_LIFECYCLE.sources(State.MERGED) == {State.PENDING, State.OPEN}
    assert PR_LIFECYCLE.sources(State.CLOSED) == {State.OPEN}
