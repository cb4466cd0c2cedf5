"""Every root module a Terraform-dialect change set edits is applied by one of its commands.

A root module's Terraform runs only when someone applies it: a change to its files, or to a
module it instantiates (`modules/<domain>/global` is instantiated by every root module of the
domain), that no command applies sits in the repository without reaching AWS, and the next
unrelated apply of that account springs it on whoever runs it.
"""

from __future__ import annotations

import pytest
from changeset_checks import sample_grant

from provisioning.substrate import (
    ChangeSet,
    Dialect,
    Options,
    Strategy,
    apply_changeset,
    generate_changeset,
    revoke_changeset,
)
from tests.fixtures.substrate_repo import FixtureRepo

pytestmark = pytest.mark.pure


def _applied(changeset: ChangeSet) -> set[tuple[str, ...]]:
    """(domain, environment, quality) of each service apply, ("admin", quality) of the admin's."""
    applied: set[tuple[str, ...]] = set()
    for command in changeset.commands:
        argv = [a.lstrip("-") for a in command.argv]
        if "create-admin-account" in argv:
            applied.add(("admin", argv[argv.index("quality") + 1]))
        elif argv[:2] == ["substrate", "setup"]:
            applied.add(("admin", "*"))
        elif "create-account" in argv or argv[1:3] == ["account", "update"]:
            applied.add(
                tuple(argv[argv.index(flag) + 1] for flag in ("domain", "environment", "quality"))
            )
    return applied


def _needing_apply(repo: FixtureRepo, changeset: ChangeSet) -> set[tuple[str, ...]]:
    """The root modules whose configuration the change set changes, directly or through the
    domain module they instantiate."""
    needed: set[tuple[str, ...]] = set()
    for change in changeset.files:
        parts = change.path.split("/")
        if parts[0] == "root-modules" and parts[1] == "admin":
            needed.add(("admin", parts[2]))
        elif parts[0] == "root-modules":
            needed.add(tuple(parts[1:4]))
        elif parts[0] == "modules" and parts[1] not in ("common", "substrate", "intranet"):
            needed |= {(a.domain, a.environment, a.quality) for a in repo.services(parts[1])}
    return needed


def _missing(repo: FixtureRepo, changeset: ChangeSet) -> set[tuple[str, ...]]:
    applied = _applied(changeset)
    if ("admin", "*") in applied:  # `substrate setup` applies the admin tree, whatever quality
        applied |= {("admin", repo.admin_quality)}
    return _needing_apply(repo, changeset) - applied


@pytest.mark.parametrize("version", ["2023.02", "2023.10", "2024.08"])
@pytest.mark.parametrize("environment", ["production", "staging"])
def test_an_iam_user_grant_applies_every_root_module_of_its_domain(make_repo, version, environment):
    repo = make_repo(version)
    grant = sample_grant(repo, Strategy.IAM_USER, environment=environment)
    options = Options(dialect=Dialect.TERRAFORM)

    granted = generate_changeset(repo.root, grant, options)
    assert any(c.path.startswith("root-modules/payments/development/") for c in granted.files)
    assert not _missing(repo, granted)

    apply_changeset(repo.root, granted)
    revoked = revoke_changeset(repo.root, grant, options)
    assert revoked.files
    assert not _missing(repo, revoked)


@pytest.mark.parametrize("strategy", [Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE])
def test_the_role_strategies_apply_the_root_modules_they_edit(make_repo, strategy):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, strategy)
    granted = generate_changeset(repo.root, grant)
    assert not _missing(repo, granted)
