"""Golden tests: every strategy in every dialect and release range, on plain and hand-edited
fixture repositories. Expected outputs live in golden/; regenerate with UPDATE_GOLDEN=1 and
review the diff like any other code change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from changeset_checks import render_changeset, sample_grant

from provisioning.substrate import (
    Dialect,
    Strategy,
    apply_changeset,
    generate_changeset,
    revoke_changeset,
)
from tests.fixtures.substrate_repo import snapshot

pytestmark = pytest.mark.pure

GOLDEN = Path(__file__).parent / "golden"
# One release per command-syntax range: terraform era, create-role with -read-only/-admin,
# create-role with -read-only-access/-substrate, and `role create --...`.
VERSIONS = {
    "2023.02": Dialect.TERRAFORM,
    "2023.04": Dialect.ROLE_CREATE,
    "2023.10": Dialect.ROLE_CREATE,
    "2024.08": Dialect.ROLE_CREATE,
}
CASES = [
    pytest.param(version, strategy, hand, id=f"{version}-{strategy}-{'hand' if hand else 'plain'}")
    for version in VERSIONS
    for strategy in Strategy
    for hand in (False, True)
]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        return
    assert path.exists(), f"no golden file {name}; run the tests with UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file (UPDATE_GOLDEN=1 updates it)"


@pytest.mark.parametrize(("version", "strategy", "hand_edited"), CASES)
def test_changeset_matches_golden_file(make_repo, version, strategy, hand_edited):
    repo = make_repo(version, hand_edited)
    grant = sample_grant(repo, strategy)
    before = snapshot(repo.root)

    granted = generate_changeset(repo.root, grant)
    assert granted.dialect is VERSIONS[version]
    assert granted.files, "a new grant always changes the repository"
    apply_changeset(repo.root, granted)
    after = snapshot(repo.root)
    revoked = revoke_changeset(repo.root, grant)

    text = render_changeset(granted, before) + "\n" + render_changeset(revoked, after)
    check_golden(f"{version}-{strategy}-{'hand' if hand_edited else 'plain'}.txt", text)


def test_every_golden_file_belongs_to_a_case():
    expected = {f"{p.id}.txt" for p in CASES}
    assert {p.name for p in GOLDEN.glob("*.txt")} <= expected
