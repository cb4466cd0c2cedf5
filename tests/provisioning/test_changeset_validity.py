"""Every generated tree is valid Terraform (python-hcl2, Terraform 1.15's own loader, fmt-clean)
and every generated policy document passes parliament.
"""

from __future__ import annotations

import json

import pytest
from changeset_checks import (
    INLINE_POLICY,
    VENDOR_ROLE,
    blocks,
    hcl_string,
    parliament_problems,
    parse_hcl,
    sample_grant,
    terraform_fmt_diff,
    terraform_load,
    terraform_policy_documents,
    tf_dirs,
)
from test_changeset_golden import CASES

from provisioning.substrate import FileAction, Strategy, apply_changeset, generate_changeset
from tests.fixtures.substrate_repo import snapshot

pytestmark = pytest.mark.pure


@pytest.mark.parametrize(("version", "strategy", "hand_edited"), CASES)
def test_generated_tree_loads_and_is_fmt_clean(make_repo, version, strategy, hand_edited):
    repo = make_repo(version, hand_edited)
    grant = sample_grant(repo, strategy)
    changeset = generate_changeset(repo.root, grant)
    apply_changeset(repo.root, changeset)

    touched = {
        (repo.root / change.path).parent
        for change in changeset.files
        if change.path.endswith(".tf") and change.action is not FileAction.DELETE
    }
    for directory in sorted(touched):
        for tf in sorted(directory.glob("*.tf")):
            parse_hcl(tf.read_text(encoding="utf-8"))  # raises on a syntax error
        assert terraform_load(directory) == [], directory
    assert terraform_fmt_diff(repo.root) == ""


def test_whole_fixture_tree_loads_after_every_strategy(make_repo):
    """All five grants (distinct vendors) together still give a tree Terraform loads."""
    repo = make_repo("2023.02", hand_edited=True)
    for number, strategy in enumerate(Strategy):
        grant = sample_grant(repo, strategy, vendor=f"vendor{number}", role_name=f"Vendor{number}")
        apply_changeset(repo.root, generate_changeset(repo.root, grant))
    for directory in tf_dirs(repo.root):
        assert terraform_load(directory) == [], directory
    assert terraform_fmt_diff(repo.root) == ""


@pytest.mark.parametrize(("version", "strategy", "hand_edited"), CASES)
def test_generated_policies_pass_parliament(make_repo, version, strategy, hand_edited):
    repo = make_repo(version, hand_edited)
    grant = sample_grant(repo, strategy)
    before = snapshot(repo.root)
    changeset = generate_changeset(repo.root, grant)
    role_arn = f"arn:aws:iam::111111111111:role/{grant.role_name}"

    checked = 0
    for change in changeset.files:
        if change.content is None:
            continue
        if change.path.endswith(".json"):
            doc = json.loads(change.content)
            if change.path in before:  # a shared document: lint only what we added
                old = json.loads(before[change.path])["Statement"]
                doc["Statement"] = [s for s in doc["Statement"] if s not in old]
            trust = change.path.endswith(".assume-role-policy.json")
            assert parliament_problems(doc, role_arn if trust else None) == [], change.path
            checked += 1
        elif change.path.endswith(".tf"):
            for name, doc in terraform_policy_documents(change.content).items():
                trust = name.endswith("-trust")
                assert parliament_problems(doc, role_arn if trust else None) == [], name
                checked += 1
    assert checked > 0


def test_parliament_check_is_not_vacuous():
    bad_condition = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [VENDOR_ROLE]},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalID-typo": "x"}},
            }
        ],
    }
    assert parliament_problems(bad_condition, "arn:aws:iam::111111111111:role/X")
    assert parliament_problems({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]})
    assert parliament_problems(INLINE_POLICY) == []


@pytest.mark.parametrize("version", ["2023.02", "2024.08"])
def test_vendor_trust_carries_external_id_as_scalar_without_sid(make_repo, version):
    repo = make_repo(version)
    for strategy in (Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.AUDITOR):
        grant = sample_grant(repo, strategy)
        for change in generate_changeset(repo.root, grant).files:
            if change.content is None:
                continue
            if change.path.endswith(".json") and "assume-role-policy" in change.path:
                for statement in json.loads(change.content)["Statement"]:
                    assert "Sid" not in statement
                    if VENDOR_ROLE in statement["Principal"]["AWS"]:
                        condition = statement["Condition"]["StringEquals"]["sts:ExternalId"]
                        assert condition == grant.external_id  # a scalar, not a list
            elif change.path.endswith(".tf"):
                trust = terraform_policy_documents(change.content).get("acme-trust")
                if trust and VENDOR_ROLE in trust["Statement"][0]["Principal"]["AWS"]:
                    condition = trust["Statement"][0]["Condition"]["StringEquals"]
                    assert condition == {"sts:ExternalId": grant.external_id}


def test_terraform_role_reads_back_exactly(make_repo):
    repo = make_repo("2023.02")
    grant = sample_grant(repo, Strategy.ROLE_PER_ACCOUNT)
    changeset = generate_changeset(repo.root, grant)
    module = repo.services("payments")[-1]
    path = f"root-modules/payments/{module.environment}/{module.quality}/global/acme.tf"
    parsed = parse_hcl(changeset.file(path).content or "")
    role = blocks(parsed, "resource", "aws_iam_role")["acme"]
    assert role["name"] == grant.role_name
    assert hcl_string(role["description"]) == grant.description
    assert role["max_session_duration"] == 43200
    attachment = blocks(parsed, "resource", "aws_iam_role_policy_attachment")["acme"]
    assert "ReadOnlyAccess" in attachment["for_each"]
    policy_file = json.loads(changeset.file("policies/acme.policy.json").content or "")
    assert policy_file == INLINE_POLICY
