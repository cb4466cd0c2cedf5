"""Inverse, idempotence and coexistence: the properties the git worker relies on."""

from __future__ import annotations

import shutil

import pytest
from changeset_checks import blocks, parse_hcl, sample_grant, targets
from test_changeset_golden import CASES

from provisioning.substrate import (
    ConflictError,
    FileAction,
    Grant,
    GrantError,
    LayoutError,
    Options,
    Strategy,
    apply_changeset,
    generate_changeset,
    revoke_changeset,
    strategies,
    tfedit,
)
from tests.fixtures.substrate_repo import snapshot

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(("version", "strategy", "hand_edited"), CASES)
def test_grant_then_revoke_restores_the_tree_exactly(make_repo, version, strategy, hand_edited):
    repo = make_repo(version, hand_edited)
    grant = sample_grant(repo, strategy)
    before = snapshot(repo.root)

    apply_changeset(repo.root, generate_changeset(repo.root, grant))
    assert snapshot(repo.root) != before
    assert generate_changeset(repo.root, grant).is_empty  # idempotent

    revoked = revoke_changeset(repo.root, grant)
    assert revoked.commands, "a revocation that changes files says what to run"
    apply_changeset(repo.root, revoked)
    assert snapshot(repo.root) == before
    assert revoke_changeset(repo.root, grant).is_empty  # idempotent too


@pytest.mark.parametrize("version", ["2023.02", "2024.08"])
@pytest.mark.parametrize("strategy", list(Strategy))
def test_two_vendors_coexist_and_revoking_one_keeps_the_other(make_repo, version, strategy):
    repo = make_repo(version, hand_edited=True)
    first = sample_grant(repo, strategy, vendor="acme", role_name="AcmeRead")
    extra = {} if strategy is Strategy.IAM_USER else {"external_id": "globex-42"}
    second = sample_grant(repo, strategy, vendor="globex", role_name="GlobexRead", **extra)
    only_second = make_repo(version, hand_edited=True)
    apply_changeset(only_second.root, generate_changeset(only_second.root, second))

    apply_changeset(repo.root, generate_changeset(repo.root, first))
    both = generate_changeset(repo.root, second)
    assert not any(c.action is FileAction.DELETE for c in both.files)
    apply_changeset(repo.root, both)
    assert generate_changeset(repo.root, first).is_empty
    assert generate_changeset(repo.root, second).is_empty

    apply_changeset(repo.root, revoke_changeset(repo.root, first))
    # What is left is exactly the second vendor's grant on the original tree.
    assert snapshot(repo.root) == snapshot(only_second.root)


def test_iam_user_plumbing_reaches_every_root_module_of_the_domain(make_repo):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.IAM_USER, environment="production")
    changeset = generate_changeset(repo.root, grant)
    paths = {c.path for c in changeset.files}
    for account in repo.services("payments"):  # all environments, not just production
        base = f"root-modules/payments/{account.environment}/{account.quality}/global"
        assert f"{base}/admin-providers.tf" in paths
        main = changeset.file(f"{base}/main.tf").content or ""
        assert "    aws.admin = aws.admin\n" in main
    assert "modules/payments/global/versions.tf" in paths
    assert not any(p.startswith("root-modules/data/") for p in paths)
    # Every root module the domain module reaches is applied, not only the selected accounts'.
    applied = [c.argv for c in changeset.commands if "create-account" in c.argv]
    assert [argv[5] for argv in applied] == [
        "development",
        "staging",
        "staging",
        "production",
        "production",
    ]


def test_iam_user_keeps_plumbing_a_human_already_wired(make_repo):
    repo = make_repo("2023.02", hand_edited=True)
    before = snapshot(repo.root)
    grant = sample_grant(repo, Strategy.IAM_USER, domain="data")
    changeset = generate_changeset(repo.root, grant)
    # The data team's own admin provider and map entries serve; nothing else is edited.
    assert sorted(c.path for c in changeset.files) == [
        "modules/data/global/acme.tf",
        "policies/acme.policy.json",
        "root-modules/admin/alpha/global/acme.tf",
    ]
    apply_changeset(repo.root, changeset)
    apply_changeset(repo.root, revoke_changeset(repo.root, grant))
    assert snapshot(repo.root) == before


def test_generate_refuses_to_overwrite_a_file_it_did_not_write(make_repo):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT)
    account = repo.service("payments", "production", "alpha")
    path = repo.root / f"root-modules/payments/production/alpha/global/{grant.vendor}.tf"
    path.write_text('# hand-written\nresource "aws_iam_role" "acme" {}\n')
    with pytest.raises(ConflictError, match="not written by the vendor access portal"):
        generate_changeset(repo.root, grant)
    with pytest.raises(ConflictError):
        revoke_changeset(repo.root, grant)
    assert account.id  # the account exists: the conflict is the file, not the selection


def test_a_second_strategy_for_the_same_vendor_conflicts_instead_of_replacing(make_repo):
    repo = make_repo("2023.02")
    apply_changeset(
        repo.root, generate_changeset(repo.root, sample_grant(repo, Strategy.ROLE_PER_ACCOUNT))
    )
    with pytest.raises(ConflictError, match="revoke that grant first"):
        generate_changeset(repo.root, sample_grant(repo, Strategy.HUB_ROLE))


def test_changed_grant_modifies_the_vendor_files(make_repo):
    repo = make_repo("2024.08")
    apply_changeset(
        repo.root, generate_changeset(repo.root, sample_grant(repo, Strategy.ROLE_PER_ACCOUNT))
    )
    rotated = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, external_id="rotated-0001")
    changeset = generate_changeset(repo.root, rotated)
    assert [(c.path, c.action) for c in changeset.files] == [
        ("policies/acme.assume-role-policy.json", FileAction.MODIFY)
    ]
    assert "rotated-0001" in (changeset.files[0].content or "")


def test_role_create_needs_a_full_product_of_accounts(make_repo):
    repo = make_repo("2024.08")
    # payments/staging/beta and payments/production/alpha, but not production/beta nor
    # staging/alpha: role create could only express it by selecting those too.
    accounts = [
        repo.service("payments", "staging", "beta"),
        repo.service("payments", "production", "alpha"),
    ]
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=targets(accounts))
    with pytest.raises(GrantError, match="would also reach") as excinfo:
        generate_changeset(repo.root, grant)
    assert excinfo.value.field == "accounts"
    # The terraform dialect expresses any selection.
    changeset = generate_changeset(repo.root, grant, Options(dialect="terraform"))
    assert len([c for c in changeset.files if c.path.endswith("/acme.tf")]) == 2


def test_account_id_must_match_the_repository(make_repo):
    repo = make_repo("2023.02")
    account = repo.service("payments", "production", "alpha")
    wrong = targets([account])[0]
    grant = sample_grant(
        repo,
        Strategy.ROLE_PER_ACCOUNT,
        accounts=(type(wrong)("999999999999", wrong.domain, wrong.environment, wrong.quality),),
    )
    with pytest.raises(GrantError, match=f"is account {account.id} in the repository"):
        generate_changeset(repo.root, grant)


def test_unknown_account_is_rejected(make_repo):
    repo = make_repo("2023.02")
    target = targets([repo.service("web", "production", "alpha")])[0]
    ghost = type(target)(target.id, "web", "development", "alpha")
    with pytest.raises(GrantError, match="no root module for web/development/alpha"):
        generate_changeset(
            repo.root, sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=(ghost,))
        )


def test_version_and_dialect_come_from_the_repository_or_options(make_repo):
    old = make_repo("2023.02")
    new = make_repo("2024.01")
    grant = sample_grant(old, Strategy.ADMINISTRATOR)
    assert generate_changeset(old.root, grant).dialect == "terraform"
    assert generate_changeset(new.root, grant).dialect == "role-create"
    forced = generate_changeset(new.root, grant, Options(substrate_version="2023.05"))
    assert forced.substrate_version == "2023.05"
    assert forced.commands[0].argv == ("substrate", "create-admin-account", "-quality", "alpha")
    with pytest.raises(LayoutError, match="no create-role"):
        generate_changeset(old.root, grant, Options(dialect="role-create"))
    unknown = make_repo("2024.08", record_version=False)
    with pytest.raises(LayoutError, match="set substrate_version"):
        generate_changeset(unknown.root, grant)


def test_commands_quote_for_the_shell(make_repo):
    repo = make_repo("2024.08")
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, role_name="Acme+Read=1,2@x.y")
    command = generate_changeset(repo.root, grant).commands[0]
    assert "--role" in command.argv
    assert command.argv[command.argv.index("--role") + 1] == "Acme+Read=1,2@x.y"
    assert command.shell.startswith("substrate role create --role Acme+Read=1,2@x.y --domain")
    assert isinstance(Grant, type)


def test_auditor_and_administrator_reject_permissions_and_accounts(make_repo):
    repo = make_repo("2024.08")
    with pytest.raises(GrantError) as excinfo:
        sample_grant(
            repo, Strategy.AUDITOR, managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",)
        )
    assert excinfo.value.field == "managed_policy_arns"
    with pytest.raises(GrantError) as excinfo:
        sample_grant(repo, Strategy.ADMINISTRATOR, accounts=targets(repo.services("web")))
    assert excinfo.value.field == "accounts"


@pytest.mark.parametrize("version", ["2023.02", "2024.08"])
def test_special_accounts(make_repo, version):
    repo = make_repo(version)
    substrate = targets([repo.special("substrate")])
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=substrate)
    changeset = generate_changeset(repo.root, grant)
    if version == "2023.02":
        assert [c.path for c in changeset.files if c.path.endswith(".tf")] == [
            "root-modules/admin/alpha/global/acme.tf"
        ]
        assert changeset.commands[0].argv == (
            "substrate",
            "create-admin-account",
            "-quality",
            "alpha",
        )
    else:
        assert "--substrate" in changeset.commands[0].argv
    wrong = (type(substrate[0])("999999999999", type="substrate"),)
    with pytest.raises(GrantError, match="Substrate account is 100000000001"):
        generate_changeset(repo.root, sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=wrong))
    audit = targets([repo.special("audit")])
    with pytest.raises(GrantError, match="audit"):
        generate_changeset(repo.root, sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=audit))


@pytest.mark.parametrize(
    ("version", "reason"),
    [("2023.10", "before Substrate 2024.01"), ("2024.08", "role delete skips the audit account")],
)
def test_audit_account_refusal_gives_the_release_specific_reason(make_repo, version, reason):
    # 2024.01 added `--special audit`, but `role delete` never visits the audit account.
    repo = make_repo(version)
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT, accounts=targets([repo.special("audit")]))
    with pytest.raises(GrantError, match=reason):
        generate_changeset(repo.root, grant)


def _hub_resources(changeset) -> list[str]:
    text = changeset.file("root-modules/admin/alpha/global/acme.tf").content or ""
    hub = blocks(parse_hcl(text), "data", "aws_iam_policy_document")["acme-hub"]
    return hub["statement"][0]["resources"]


def test_terraform_hub_may_assume_exactly_the_spoke_roles(make_repo):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.HUB_ROLE)
    expected = [f"arn:aws:iam::{a.id}:role/AcmeReadOnly" for a in grant.accounts]
    changeset = generate_changeset(repo.root, grant)
    assert sorted(_hub_resources(changeset)) == sorted(expected)
    assert not any("any account" in warning for warning in changeset.warnings)


def test_terraform_hub_falls_back_to_the_role_name_past_the_size_limit(make_repo, monkeypatch):
    monkeypatch.setattr(strategies, "_HUB_POLICY_BUDGET", 50)  # one ARN fits, two do not
    repo = make_repo("2023.02")
    changeset = generate_changeset(repo.root, sample_grant(repo, Strategy.HUB_ROLE))
    assert _hub_resources(changeset) == ["arn:aws:iam::*:role/AcmeReadOnly"]
    assert any("any account" in warning for warning in changeset.warnings)


@pytest.mark.parametrize(
    "strategy", [Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.IAM_USER]
)
def test_role_create_roles_are_flagged_for_their_extra_inline_policy(make_repo, strategy):
    # SUBSTRATE.md S2: role create adds sts:AssumeRole on * to every role it creates.
    modern = make_repo("2024.08")
    assert (
        strategies.ROLE_CREATE_WARNING
        in generate_changeset(modern.root, sample_grant(modern, strategy)).warnings
    )
    seed = make_repo("2023.02")
    assert (
        strategies.ROLE_CREATE_WARNING
        not in generate_changeset(seed.root, sample_grant(seed, strategy)).warnings
    )


@pytest.mark.parametrize(("version", "needs_quality"), [("2023.07", True), ("2023.08", False)])
def test_reuse_needs_the_admin_quality_only_for_create_admin_account(
    make_repo, version, needs_quality
):
    repo = make_repo(version)
    shutil.copytree(repo.root / "root-modules/admin/alpha", repo.root / "root-modules/admin/beta")
    grant = sample_grant(repo, Strategy.AUDITOR)
    if needs_quality:
        with pytest.raises(LayoutError, match="set admin_quality"):
            generate_changeset(repo.root, grant)
        changeset = generate_changeset(repo.root, grant, Options(admin_quality="beta"))
        assert changeset.commands[0].argv[-2:] == ("-quality", "beta")
    else:
        assert generate_changeset(repo.root, grant).commands[0].argv == ("substrate", "setup")


def test_revocation_leaves_a_plumbing_edit_a_human_changed_and_says_so(make_repo):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.IAM_USER)
    apply_changeset(repo.root, generate_changeset(repo.root, grant))
    main = repo.root / "root-modules/payments/staging/beta/global/main.tf"
    text = main.read_text(encoding="utf-8")
    assert "aws.admin = aws.admin\n" in text
    main.write_text(text.replace("aws.admin = aws.admin", "aws.admin = aws.admin # keep"))

    revoked = revoke_changeset(repo.root, grant)
    path = "root-modules/payments/staging/beta/global/main.tf"
    assert f"{path}: the portal's aws.admin entry was edited; left" in revoked.warnings
    changed = {change.path for change in revoked.files}
    assert path not in changed
    # The entry that stays still needs its provider; the other modules lose both.
    assert path.replace("main.tf", "admin-providers.tf") not in changed
    other = "root-modules/payments/staging/alpha/global/admin-providers.tf"
    assert revoked.file(other).action is FileAction.DELETE


@pytest.mark.parametrize(
    ("old", "new", "warned"),
    [
        ("aws.admin,", "aws.admin ,", True),  # our marked entry, changed by hand
        (tfedit.ALIASES_MARKER + "\n", "", False),  # the marker gone: the alias is theirs now
    ],
)
def test_revocation_keeps_root_plumbing_while_the_module_requires_aws_admin(
    make_repo, old, new, warned
):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.IAM_USER)
    apply_changeset(repo.root, generate_changeset(repo.root, grant))
    versions = repo.root / "modules/payments/global/versions.tf"
    text = versions.read_text(encoding="utf-8")
    assert old in text
    versions.write_text(text.replace(old, new), encoding="utf-8")

    revoked = revoke_changeset(repo.root, grant)
    assert any("aws.admin alias was edited" in w for w in revoked.warnings) is warned
    # The module still requires aws.admin, so no root module may stop passing it.
    assert {change.path for change in revoked.files} == {
        "modules/payments/global/acme.tf",
        "policies/acme.policy.json",
        "root-modules/admin/alpha/global/acme.tf",
    }
