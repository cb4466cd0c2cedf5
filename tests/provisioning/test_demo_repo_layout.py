"""The demo repository's layout and bare git repository (no Django database, no emulator)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from dulwich.objects import Commit
from dulwich.repo import Repo

from demo import aws_org as demo_org
from demo.substrate_repo import AUTHOR, create_bare_repository, demo_repo_files
from provisioning.substrate import Grant, RepoLayout, Strategy, TargetAccount, generate_changeset
from provisioning.substrate_layout import write_files

pytestmark = pytest.mark.pure

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def fake_ids() -> dict[str, str]:
    """Distinct made-up ids for every demo account (the real ones come from the emulator)."""
    return {a.name: f"{300000000000 + n:012d}" for n, a in enumerate(demo_org.demo_accounts())}


@pytest.fixture
def demo_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    write_files(root, demo_repo_files(fake_ids()))
    return root


def test_naming_files_are_exactly_the_demo_organizations(demo_tree):
    # The account sync cross-checks these against the accounts' tags.
    for name, text in demo_org.repo_files().items():
        assert (demo_tree / name).read_text() == text, name
    assert (demo_tree / "substrate.default-region").read_text() == "us-west-2\n"


def test_every_service_account_has_a_root_module_naming_its_own_id(demo_tree):
    layout = RepoLayout(demo_tree)
    ids = fake_ids()
    assert str(layout.substrate_version) == demo_org.SUBSTRATE_VERSION
    assert layout.environments == demo_org.ENVIRONMENTS
    assert layout.qualities == demo_org.QUALITIES
    assert layout.admin_quality() == demo_org.ADMIN_QUALITY
    assert layout.default_region == demo_org.DEFAULT_REGION
    expected = {
        (a.tags["Domain"], a.tags["Environment"], a.tags["Quality"]): ids[a.name]
        for a in demo_org.demo_accounts()
        if a.account_type == "service"
    }
    found = {m.key: layout.module_account_id(m.path) for m in layout.service_modules}
    assert found == expected
    admin = f"root-modules/admin/{demo_org.ADMIN_QUALITY}/global"
    assert layout.module_account_id(admin) == ids["Substrate"]
    regional = (demo_tree / "root-modules/web/production/beta/us-west-2/providers.tf").read_text()
    assert f"arn:aws:iam::{ids['network']}:role/NetworkAdministrator" in regional
    backend = (demo_tree / "root-modules/web/production/beta/global/terraform.tf").read_text()
    assert f"arn:aws:iam::{ids['deploy']}:role/TerraformStateManager" in backend
    assert 'bucket         = "demo-terraform-state-us-west-2"' in backend


def test_a_missing_account_id_is_refused():
    ids = fake_ids()
    del ids["network"]
    with pytest.raises(KeyError, match="network"):
        demo_repo_files(ids)


def test_the_generator_writes_a_grant_against_the_demo_tree(demo_tree):
    ids = fake_ids()
    grant = Grant(
        vendor="orbit-ci",
        strategy=Strategy.ROLE_PER_ACCOUNT,
        role_name="OrbitCiAccess",
        principals=("arn:aws:iam::123456789012:role/VendorScanner",),
        external_id="demo-external-id",
        accounts=tuple(
            TargetAccount(
                id=ids[f"payments-production-{q}"],
                domain="payments",
                environment="production",
                quality=q,
            )
            for q in ("alpha", "beta")
        ),
        managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
    )
    changeset = generate_changeset(demo_tree, grant)
    assert "policies/orbit-ci.assume-role-policy.json" in {f.path for f in changeset.files}
    assert any(
        c.shell.startswith("substrate role create --role OrbitCiAccess") for c in changeset.commands
    )


def test_bare_repository_holds_one_commit_of_exactly_the_files(tmp_path):
    files = demo_repo_files(fake_ids())
    path = tmp_path / "var" / "substrate.git"
    commit = create_bare_repository(path, files, branch="trunk")
    with Repo(str(path)) as repo:
        assert repo.bare
        assert repo.refs[b"refs/heads/trunk"].decode() == commit  # type: ignore[index]
        assert repo.refs.read_ref(b"HEAD") == b"ref: refs/heads/trunk"  # type: ignore[arg-type]
        head = repo[commit.encode()]
        assert isinstance(head, Commit)
        assert head.parents == []
        assert head.author.decode() == AUTHOR == head.committer.decode()
        stored = {
            e.path.decode(): repo[e.sha].as_raw_string().decode()
            for e in repo.object_store.iter_tree_contents(head.tree)
        }
    assert stored == files
    # Nothing but the repository itself is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["substrate.git"]
    # git itself finds the objects well formed.
    subprocess.run(["git", "-C", str(path), "fsck", "--strict"], check=True, env=GIT_ENV)
    log = subprocess.run(
        ["git", "-C", str(path), "log", "--format=%an <%ae>|%s"],
        check=True,
        capture_output=True,
        text=True,
        env=GIT_ENV,
    ).stdout
    assert (
        log == "Vendor access portal demo <demo@localhost>|"
        "Substrate repository of the demo organization\n"
    )


def test_bare_repository_refuses_an_existing_path(tmp_path):
    path = tmp_path / "substrate.git"
    path.mkdir()
    (path / "keep").write_text("mine")
    with pytest.raises(FileExistsError):
        create_bare_repository(path, {"a": "b\n"}, branch="main")
    assert [p.name for p in path.iterdir()] == ["keep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["substrate.git"]
