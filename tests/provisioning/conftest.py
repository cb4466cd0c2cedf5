"""Fixtures for the change-set generator's tests (pure Python: no Django, no services needed).

`_fresh_cache` overrides the project-wide autouse fixture of the same name, which clears
Django's cache: the generator has no Django, and these tests must not import it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from pathlib import Path

import pytest

from tests.fixtures.substrate_repo import FixtureRepo, build_repo


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Overrides tests/conftest.py's Django cache reset: nothing to reset here."""


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., FixtureRepo]:
    """Builds a fresh fixture repository (about 15 ms) under this test's tmp_path."""
    numbers = count()

    def make(version: str = "2024.08", hand_edited: bool = False, **kwargs: object) -> FixtureRepo:
        root = tmp_path / f"repo{next(numbers)}"
        return build_repo(root, version=version, hand_edited=hand_edited, **kwargs)  # type: ignore[arg-type]

    return make
