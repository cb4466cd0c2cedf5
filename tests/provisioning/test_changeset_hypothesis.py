"""Property-based tests with hostile input: a grant is either refused with GrantError or its
output parses and reads back as exactly the input values (never silently altered).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from changeset_checks import blocks, hcl_string, parse_hcl, targets, terraform_load
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from provisioning.substrate import Grant, GrantError, Options, Strategy, generate_changeset, names
from tests.fixtures.substrate_repo import FixtureRepo, build_repo

pytestmark = pytest.mark.pure

SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NASTY = st.text(
    st.one_of(
        st.sampled_from(list('"\\${}%\n\r\t\x00\x85\u2028 #/*<>.:=,@+-_')),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=40,
)


def mostly(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Valid values four times in five, so that most examples reach the renderers."""
    return st.integers(0, 4).flatmap(lambda n: NASTY if n == 4 else valid)


VENDORS = mostly(st.from_regex(names.VENDOR_SLUG, fullmatch=True))
ROLES = mostly(st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,60}", fullmatch=True))
EXTERNAL_IDS = mostly(st.from_regex(r"[A-Za-z0-9_+=,.@:/-]{2,80}", fullmatch=True))
PRINCIPALS = st.lists(
    mostly(
        st.one_of(
            st.from_regex(r"[0-9]{12}", fullmatch=True),
            st.from_regex(
                r"arn:aws:iam::[0-9]{12}:(role|user)/"
                r"([A-Za-z0-9_+=,.@-]{1,8}/){0,2}[A-Za-z0-9_+=,.@-]{1,30}",
                fullmatch=True,
            ),
        )
    ),
    min_size=1,
    max_size=3,
)
DESCRIPTIONS = mostly(st.text(st.characters(max_codepoint=0xFF), max_size=60))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> FixtureRepo:
    return build_repo(tmp_path_factory.mktemp("hostile") / "repo", version="2023.02")


def make_grant(repo: FixtureRepo, strategy: Strategy, **values: object) -> Grant | None:
    accounts = targets(a for a in repo.services("payments") if a.environment == "production")
    try:
        grant = Grant(
            strategy=strategy,
            accounts=accounts,
            managed_policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
            **values,  # type: ignore[arg-type]
        )
    except GrantError as error:
        rejected = error.field
    else:
        event("accepted")
        return grant
    assert rejected in values  # the error names one of the hostile fields
    event(f"rejected: {rejected}")
    return None


def check_terraform_file(directory: Path, text: str) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vendor.tf").write_text(text, encoding="utf-8")
    assert terraform_load(directory) == []
    return parse_hcl(text)


@SETTINGS
@given(VENDORS, ROLES, EXTERNAL_IDS, PRINCIPALS, DESCRIPTIONS)
def test_hostile_role_grant_terraform(repo, tmp_path, vendor, role, external_id, principals, text):
    grant = make_grant(
        repo,
        Strategy.ROLE_PER_ACCOUNT,
        vendor=vendor,
        role_name=role,
        external_id=external_id,
        principals=tuple(principals),
        description=text,
    )
    if grant is None:
        return
    assert (grant.vendor, grant.role_name, grant.external_id) == (vendor, role, external_id)
    assert grant.principals == tuple(principals)
    changeset = generate_changeset(repo.root, grant)
    path = f"root-modules/payments/production/beta/global/{vendor}.tf"
    parsed = check_terraform_file(tmp_path / "tf", changeset.file(path).content or "")
    role_block = blocks(parsed, "resource", "aws_iam_role")[vendor]
    assert role_block["name"] == role
    assert hcl_string(role_block.get("description", "")) == grant.description
    assert role_block["tags"]["Vendor"] == vendor
    statement = blocks(parsed, "data", "aws_iam_policy_document")[f"{vendor}-trust"]["statement"][0]
    assert statement["principals"][0]["identifiers"] == list(principals)
    assert statement["condition"][0]["values"] == [external_id]


@SETTINGS
@given(VENDORS, ROLES, EXTERNAL_IDS, PRINCIPALS)
def test_hostile_role_grant_role_create(repo, vendor, role, external_id, principals):
    grant = make_grant(
        repo,
        Strategy.HUB_ROLE,
        vendor=vendor,
        role_name=role,
        external_id=external_id,
        principals=tuple(principals),
    )
    if grant is None:
        return
    options = Options(dialect="role-create", substrate_version="2024.08")
    changeset = generate_changeset(repo.root, grant, options)
    trust = json.loads(changeset.file(f"policies/{vendor}.assume-role-policy.json").content or "")
    statement = trust["Statement"][0]
    assert statement["Principal"]["AWS"] == list(principals)
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": external_id}}
    for command in changeset.commands:
        assert shlex.split(command.shell) == list(command.argv)
    hub, spoke = changeset.commands
    assert hub.argv[hub.argv.index("--role") + 1] == f"{role}Hub"
    assert spoke.argv[spoke.argv.index("--role") + 1] == role


@SETTINGS
@given(VENDORS, ROLES)
def test_hostile_iam_user_grant(repo, tmp_path, vendor, role):
    grant = make_grant(repo, Strategy.IAM_USER, vendor=vendor, role_name=role)
    if grant is None:
        return
    changeset = generate_changeset(repo.root, grant)
    user_file = changeset.file(f"root-modules/admin/alpha/global/{vendor}.tf").content or ""
    parsed = check_terraform_file(tmp_path / "user", user_file)
    assert blocks(parsed, "resource", "aws_iam_user")[vendor]["name"] == vendor
    policy = blocks(parsed, "data", "aws_iam_policy_document")[vendor]["statement"][0]
    assert policy["resources"] == [f"arn:aws:iam::*:role/{role}"]
    module_file = changeset.file(f"modules/payments/global/{vendor}.tf").content or ""
    parsed = check_terraform_file(tmp_path / "module", module_file)
    assert blocks(parsed, "resource", "aws_iam_role")[vendor]["name"] == role
    assert blocks(parsed, "data", "aws_iam_user")[vendor]["user_name"] == vendor


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_hostile_account_names_never_reach_a_path(domain, environment):
    try:
        account = names.dimension(domain, "d"), names.dimension(environment, "e")
    except GrantError:
        return
    for value in account:
        assert "/" not in value
        assert ".." not in value
        assert value.strip() == value
