"""Grant validation (every hostile value is refused, naming its field) and apply's path safety."""

from __future__ import annotations

import os
from typing import Any

import pytest
from changeset_checks import INLINE_POLICY, sample_grant

from provisioning.substrate import (
    ChangeSet,
    ConflictError,
    Dialect,
    FileAction,
    FileChange,
    Grant,
    GrantError,
    Strategy,
    TargetAccount,
    UnsafePathError,
    apply_changeset,
    generate_changeset,
)
from provisioning.substrate.changeset import Workspace, substrate_overwrites
from provisioning.substrate.errors import LayoutError
from provisioning.substrate.layout import RepoLayout, SubstrateVersion
from provisioning.substrate.model import sha256_text

pytestmark = pytest.mark.pure

ACCOUNT = TargetAccount("210987654321", "payments", "production", "alpha")


def grant(**overrides: object) -> Grant:
    kwargs: dict[str, object] = {
        "vendor": "acme",
        "strategy": "role_per_account",
        "role_name": "AcmeRead",
        "principals": ("123456789012",),
        "external_id": "ext-id-1",
        "accounts": (ACCOUNT,),
        "managed_policy_arns": ("arn:aws:iam::aws:policy/ReadOnlyAccess",),
    }
    kwargs.update(overrides)
    return Grant(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vendor", "Acme"),
        ("vendor", "acme-"),
        ("vendor", "acme--corp"),
        ("vendor", "1acme"),
        ("vendor", "acme\n"),
        ("vendor", "../acme"),
        ("vendor", "a" * 41),
        ("vendor", "acme-hub"),  # would share policies/acme-hub.* with vendor "acme"
        ("vendor", "acme-trust"),  # would share the acme-trust Terraform label
        ("vendor", "acme-user"),  # would share policies/acme-user.* with vendor "acme"
        ("vendor", "substrate"),  # the IAM user would be Substrate's own
        ("role_name", 'Acme"Read'),
        ("role_name", "Acme Read"),
        ("role_name", "Acme${x}"),
        ("role_name", "AcmeRéad"),
        ("role_name", "a" * 65),
        ("role_name", "administrator"),
        ("role_name", "OrganizationAccountAccessRole"),
        ("role_name", "AcmeRead\n"),
        ("external_id", "x"),
        ("external_id", "has space"),
        ("external_id", 'quote"'),
        ("external_id", "ext\n"),
        ("external_id", None),
        ("principals", ("12345678901",)),
        ("principals", ("arn:aws:iam::123456789012:root", "123456789012")),  # one account
        ("principals", ("arn:aws-cn:iam::123456789012:role/x",)),
        ("principals", ("arn:aws-us-gov:iam::123456789012:root",)),
        ("managed_policy_arns", ("arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",)),
        ("principals", ("arn:aws:iam::123456789012:role/x y",)),
        ("principals", ('arn:aws:iam::123456789012:role/x"',)),
        ("principals", ("arn:aws:iam::123456789012:group/x",)),
        ("principals", ("*",)),
        ("principals", ()),
        ("principals", "123456789012"),
        ("principals", ("123456789012", "123456789012")),
        ("managed_policy_arns", ("arn:aws:iam::aws:policy/Read Only",)),
        (
            "managed_policy_arns",
            (
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
            ),
        ),
        ("request_id", "REQ 1"),
        ("request_id", "REQ-1\n# injected"),
        ("description", "bell\x07"),
        ("description", "snowman \u2603"),
        ("description", "x" * 1001),
        ("accounts", ()),
        ("inline_policy", {"Version": "2012-10-17", "Statement": []}),
        ("inline_policy", {"Statement": [{"Effect": "Allow"}]}),
        (
            "inline_policy",
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*"}]},
        ),
        (
            "inline_policy",
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "X": float("nan")}]},
        ),
    ],
)
def test_hostile_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(GrantError) as excinfo:
        grant(**{field: value})
    assert excinfo.value.field == field
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "12345"),
        ("domain", "pay ments"),
        ("environment", "../prod"),
        ("quality", "alpha\n"),
        ("type", "audit-ish"),
    ],
)
def test_hostile_accounts_are_rejected(field, value):
    kwargs: dict[str, Any] = {
        "id": "210987654321",
        "domain": "d",
        "environment": "e",
        "quality": "q",
    }
    kwargs[field] = value
    with pytest.raises(GrantError) as excinfo:
        TargetAccount(**kwargs)
    assert excinfo.value.field == f"accounts.{field}"


def test_valid_values_are_kept_exactly():
    value = grant(
        principals=("arn:aws:iam::123456789012:role/path/to/Vendor+Role=1,2.@-_", "123456789012"),
        external_id="ext_+=,.@:/-ID",
        description='e\u0301t\u00e9 "quoted" ${x} %{y}\ttab\nline',
        inline_policy=INLINE_POLICY,
    )
    assert value.principals[0] == "arn:aws:iam::123456789012:role/path/to/Vendor+Role=1,2.@-_"
    assert value.external_id == "ext_+=,.@:/-ID"
    assert value.description == '\u00e9t\u00e9 "quoted" ${x} %{y}\ttab\nline'  # NFC
    assert value.inline_policy == INLINE_POLICY
    assert value.inline_policy is not INLINE_POLICY  # a private copy


def test_iam_user_takes_no_vendor_trust():
    with pytest.raises(GrantError) as excinfo:
        grant(strategy=Strategy.IAM_USER, external_id=None)
    assert excinfo.value.field == "principals"
    ok = grant(strategy=Strategy.IAM_USER, principals=(), external_id=None)
    assert ok.strategy is Strategy.IAM_USER


def test_hub_role_name_leaves_room_for_the_suffix():
    with pytest.raises(GrantError, match="role_name"):
        grant(strategy=Strategy.HUB_ROLE, role_name="a" * 62)
    assert grant(strategy=Strategy.HUB_ROLE, role_name="a" * 61).hub_role_name == "a" * 61 + "Hub"


def test_versions_order_and_parse():
    assert SubstrateVersion.parse("2023.02") < SubstrateVersion.parse("2023.10-dirty")
    assert str(SubstrateVersion.parse("2024.08")) == "2024.08"
    with pytest.raises(LayoutError):
        SubstrateVersion.parse("v2024")


def test_files_substrate_overwrites_are_refused():
    assert substrate_overwrites("root-modules/payments/production/alpha/global/providers.tf")
    assert substrate_overwrites("root-modules/payments/production/alpha/global/terraform.tf")
    assert substrate_overwrites("root-modules/admin/alpha/global/main.tf")
    assert substrate_overwrites("root-modules/admin/alpha/us-west-2/main.tf")
    assert substrate_overwrites("modules/payments/global/substrate.tf")
    assert not substrate_overwrites("root-modules/admin/alpha/global/acme.tf")
    assert substrate_overwrites("modules/intranet/global/main.tf")
    assert substrate_overwrites("substrate.valid-environment-quality-pairs.json")
    assert not substrate_overwrites("root-modules/payments/production/alpha/global/main.tf")
    assert not substrate_overwrites("modules/payments/global/versions.tf")
    assert not substrate_overwrites("substrate.Auditor.assume-role-policy.json")


def test_workspace_refuses_managed_files(make_repo):
    repo = make_repo()
    workspace = Workspace(RepoLayout(repo.root))
    with pytest.raises(LayoutError, match="Substrate overwrites it"):
        workspace.write("root-modules/admin/alpha/global/main.tf", "")


# -- apply_changeset ------------------------------------------------------------------------------


def changeset(*files: FileChange) -> ChangeSet:
    return ChangeSet("acme", Strategy.AUDITOR, Dialect.TERRAFORM, "2023.02", False, files)


@pytest.mark.parametrize(
    "path",
    [
        "../outside.tf",
        "/etc/passwd",
        "a/../../b.tf",
        "a//b.tf",
        "./a.tf",
        "a\\b.tf",
        ".git/config",
        "",
    ],
)
def test_apply_refuses_paths_leaving_the_repository(tmp_path, path):
    with pytest.raises(UnsafePathError):
        apply_changeset(tmp_path, changeset(FileChange(path, FileAction.CREATE, "x")))
    assert not (tmp_path.parent / "outside.tf").exists()


def test_apply_refuses_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside, repo / "escape")
    with pytest.raises(UnsafePathError):
        apply_changeset(repo, changeset(FileChange("escape/x.tf", FileAction.CREATE, "x")))
    (repo / "inside").mkdir()
    os.symlink(repo / "inside", repo / "alias")
    with pytest.raises(UnsafePathError, match="symlink"):
        apply_changeset(repo, changeset(FileChange("alias/x.tf", FileAction.CREATE, "x")))
    (repo / "real.tf").write_text("a")
    os.symlink(repo / "real.tf", repo / "link.tf")
    with pytest.raises(UnsafePathError, match="symlink"):
        apply_changeset(
            repo, changeset(FileChange("link.tf", FileAction.MODIFY, "b", sha256_text("a")))
        )
    assert list(outside.iterdir()) == []
    assert (repo / "real.tf").read_text() == "a"


def test_apply_checks_everything_before_writing(tmp_path):
    (tmp_path / "kept.tf").write_text("old")
    stale = FileChange("kept.tf", FileAction.MODIFY, "new", sha256_text("older"))
    with pytest.raises(ConflictError, match="changed since"):
        apply_changeset(tmp_path, changeset(FileChange("a/new.tf", FileAction.CREATE, "x"), stale))
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "kept.tf").read_text() == "old"
    with pytest.raises(ConflictError, match="already exists"):
        apply_changeset(tmp_path, changeset(FileChange("kept.tf", FileAction.CREATE, "x")))


def test_apply_writes_exact_bytes_and_prunes_empty_directories(tmp_path):
    content = "line\r\nnon-ascii: \u00e9\n"
    apply_changeset(tmp_path, changeset(FileChange("p/q/file.json", FileAction.CREATE, content)))
    assert (tmp_path / "p/q/file.json").read_bytes() == content.encode()
    apply_changeset(
        tmp_path,
        changeset(FileChange("p/q/file.json", FileAction.DELETE, None, sha256_text(content))),
    )
    assert not (tmp_path / "p").exists()


def test_generate_reads_through_no_symlink(make_repo, tmp_path):
    repo = make_repo("2024.08")
    secret = tmp_path / "secret.json"
    secret.write_text('{"Statement": []}')
    os.symlink(secret, repo.root / "substrate.Auditor.assume-role-policy.json")
    with pytest.raises(UnsafePathError):
        generate_changeset(repo.root, sample_grant(repo, Strategy.AUDITOR))
