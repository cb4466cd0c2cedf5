"""IAM checks for requests with hostile input: principals, ids, names, policies, risk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from approvals import iam


@pytest.mark.parametrize(
    "good",
    [
        "123456789012",
        "arn:aws:iam::123456789012:role/VendorScanner",
        "arn:aws:iam::123456789012:role/path/to/Vendor+Role=1,2.@-_",
        "arn:aws:iam::123456789012:user/ci-bot",
    ],
)
def test_valid_principals_are_kept(good):
    assert iam.parse_principals(f"  {good}\n") == [good]


def test_an_account_root_arn_is_read_as_the_account_id():
    text = "arn:aws:iam::123456789012:root\n123456789012, arn:aws:iam::210987654321:root"
    assert iam.parse_principals(text) == ["123456789012", "210987654321"]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws-us-gov:iam::123456789012:role/Gov",
        "arn:aws-cn:iam::123456789012:root",
        "arn:aws-cn:iam::123456789012:user/ci",
    ],
)
def test_principals_of_other_partitions_are_refused_with_the_reason(arn):
    with pytest.raises(iam.IamInputError, match="partition: Substrate organizations are in"):
        iam.parse_principals(arn)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess"], "partition"),
        (["arn:aws-cn:iam::123456789012:policy/Mine"], "partition"),
        (["arn:aws:iam::aws:policy//x"], "not an IAM managed policy ARN"),
        (
            [
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
            ],
            "already includes ReadOnlyAccess",
        ),
        ([f"arn:aws:iam::aws:policy/P{n}" for n in range(21)], "at most 20"),
    ],
)
def test_managed_policies_the_generator_refuses_are_refused(values, message):
    with pytest.raises(iam.IamInputError, match=message):
        iam.check_managed_policy_arns(values)


@pytest.mark.parametrize(
    "name",
    [
        "Administrator",
        "administrator",
        "Auditor",
        "OrganizationAdministrator",
        "Substrate",
        "TerraformStateManager",
        "OrganizationReader",
        "NetworkAdministrator",
    ],
)
def test_role_names_substrate_reserves_are_refused(name):
    with pytest.raises(iam.IamInputError, match="Substrate manages itself"):
        iam.check_role_name(name)


def test_a_hub_role_name_must_leave_room_for_the_suffix():
    assert iam.check_role_name("V" * 64) == "V" * 64
    assert iam.check_role_name("V" * 61, "hub_role") == "V" * 61
    with pytest.raises(iam.IamInputError, match="use at most 61"):
        iam.check_role_name("V" * 62, "hub_role")


def test_a_lone_statement_object_is_stored_as_a_list():
    text = (
        '{"Version": "2012-10-17", "Statement": '
        '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}'
    )
    assert isinstance(iam.parse_policy_document(text)["Statement"], list)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("*", "wildcard"),
        ("arn:aws:iam::*:role/X", "wildcard"),
        ("arn:aws:iam::123456789012:role/*", "wildcard"),
        ("12345678901", "exactly 12 digits"),
        ("1234567890123", "exactly 12 digits"),
        ("arn:aws:iam::12345678901:role/X", "neither"),
        ("arn:aws:s3:::bucket", "neither"),
        ("arn:aws:iam::123456789012:group/Admins", "neither"),
        ("arn:aws:iam::123456789012:role/bad name", "neither"),
        ('arn:aws:iam::123456789012:role/X"}]', "neither"),
        ("arn:aws:sts::123456789012:assumed-role/X/s", "neither"),
        ("vendor.example.com", "neither"),
    ],
)
def test_hostile_principals_are_refused(bad, message):
    with pytest.raises(iam.IamInputError, match=message):
        iam.parse_principals(bad)


def test_principals_split_on_lines_and_commas_without_duplicates():
    text = "123456789012, arn:aws:iam::210987654321:role/R\n123456789012"
    assert iam.parse_principals(text) == ["123456789012", "arn:aws:iam::210987654321:role/R"]


@pytest.mark.parametrize(
    "bad", ["a", "x" * 1225, "has space", "semi;colon", 'quote"', "ünï", "new\nline", "${var}"]
)
def test_external_id_charset_and_length(bad):
    with pytest.raises(iam.IamInputError):
        iam.check_external_id(bad)
    assert iam.check_external_id("ab") == "ab"
    assert iam.check_external_id("x_+=,.@:/-" * 100) == "x_+=,.@:/-" * 100


@pytest.mark.parametrize("bad", ["", "x" * 65, "Role Name", "role/name", "role*", "röle"])
def test_role_names_follow_iam_rules(bad):
    with pytest.raises(iam.IamInputError):
        iam.check_role_name(bad)


def test_managed_policy_arns():
    good = [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        "arn:aws:iam::123456789012:policy/Custom",
    ]
    assert iam.check_managed_policy_arns(good) == good
    for bad in ("ReadOnlyAccess", "arn:aws:iam::aws:role/X", "arn:aws:iam::aws:policy/*"):
        with pytest.raises(iam.IamInputError):
            iam.check_managed_policy_arns([bad])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Not valid JSON"),
        ("[]", "JSON object"),
        ('{"Statement": []}', "Version"),
        ('{"Version": "2008-10-17", "Statement": []}', "Version"),
        ('{"Version": "2012-10-17", "Statement": []}', "at least one statement"),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", '
            '"Resource": "*"}]}',
            "Effect",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}',
            "Action or NotAction",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:GetObject"}]}',
            "Resource or NotResource",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [], '
            '"Resource": "*"}]}',
            "string or a list",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", '
            '"Resource": "*", "Principal": "*"}]}',
            "no Principal",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", '
            '"Resource": "*", "Bogus": 1}]}',
            "unknown keys",
        ),
    ],
)
def test_policy_grammar(text, message):
    with pytest.raises(iam.IamInputError, match=message):
        iam.parse_policy_document(text)


def _policy(actions, resource="*"):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
    }


def test_policy_over_the_size_limit_is_an_error():
    huge = _policy([f"s3:GetObject{'x' * 20}{i}" for i in range(500)])
    findings = iam.lint_policy(huge)
    assert findings[0].severity == "error"
    assert findings[0].code == "POLICY_TOO_LARGE"


def test_parliament_findings_come_with_severity():
    codes = {f.code: f.severity for f in iam.lint_policy(_policy(["s3:GetObjekt"]))}
    assert codes["UNKNOWN_ACTION"] == "low"  # stale IAM data: a warning, not an error
    escalation = {
        f.code: f.severity for f in iam.lint_policy(_policy(["iam:PassRole", "ec2:RunInstances"]))
    }
    assert escalation["PRIVILEGE_ESCALATION"] == "high"
    clean = iam.lint_policy(_policy(["s3:GetObject"], "arn:aws:s3:::bucket/*"))
    assert clean == []


@pytest.mark.parametrize(
    ("managed", "actions", "resource", "reason"),
    [
        (["arn:aws:iam::aws:policy/AdministratorAccess"], None, None, "AdministratorAccess"),
        ([], "*", "*", 'Action "*"'),
        ([], ["iam:*"], "*", "iam:*"),
        ([], ["iam:PassRole"], "*", "iam:PassRole on *"),
        ([], ["sts:AssumeRole"], "*", "sts:AssumeRole on *"),
    ],
)
def test_admin_equivalent_permissions_are_detected(managed, actions, resource, reason):
    document = _policy(actions, resource) if actions else None
    reasons = iam.admin_equivalent_reasons(managed, document)
    assert any(reason in r for r in reasons)


def test_narrow_permissions_are_not_admin_equivalent():
    assert (
        iam.admin_equivalent_reasons(
            ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            _policy(["s3:GetObject"], "arn:aws:s3:::b/*"),
        )
        == []
    )


def test_policy_sentry_writes_least_privilege():
    policy = iam.generate_least_privilege_policy(
        service="s3", access_levels=["read"], resource_arns=["arn:aws:s3:::exports"]
    )
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert "s3:GetBucketPolicy" in actions
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in actions)
    assert {r for s in policy["Statement"] for r in s["Resource"]} == {"arn:aws:s3:::exports"}
    json.dumps(policy)
    with pytest.raises(iam.IamInputError):
        iam.generate_least_privilege_policy(
            service="s3; rm", access_levels=["read"], resource_arns=[]
        )


@pytest.mark.parametrize(
    ("kwargs", "level", "approvals"),
    [
        ({"strategy": "role_per_account"}, "low", 1),
        ({"strategy": "role_per_account", "production": True}, "medium", 1),
        ({"strategy": "auditor"}, "medium", 1),
        ({"strategy": "iam_user"}, "high", 2),
        ({"strategy": "administrator"}, "critical", 2),
        ({"strategy": "role_per_account", "admin_reasons": ["x"]}, "critical", 2),
        ({"strategy": "role_per_account", "account_types": {"management"}}, "critical", 1),
        ({"strategy": "role_per_account", "vendor_tier": "critical"}, "medium", 1),
    ],
)
def test_risk_and_quorum(kwargs, level, approvals):
    args = {
        "admin_reasons": [],
        "account_types": set(),
        "production": False,
        "vendor_tier": "low",
        "lint_high": False,
        **kwargs,
    }
    risk = iam.assess_risk(**args)
    assert (risk.level, risk.required_approvals) == (level, approvals)


def test_quorum_is_configurable_upward_only():
    args: dict[str, Any] = {
        "strategy": "administrator",
        "admin_reasons": [],
        "account_types": set(),
        "production": False,
        "vendor_tier": "low",
        "lint_high": False,
    }
    assert iam.assess_risk(**args, minimum_approvals=3).required_approvals == 3
    assert iam.assess_risk(**args, minimum_approvals=1).required_approvals == 2


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_python_json_extensions_are_refused(constant):
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", '
        '"Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": ' + constant + "}}}]}"
    )
    with pytest.raises(iam.IamInputError, match="not a JSON value"):
        iam.parse_policy_document(text)


def test_a_policy_over_the_inline_limit_is_refused_at_input():
    """The generator refuses it, so the form must: it used to be only a lint finding."""
    actions = [f"s3:GetObject{'x' * 20}{i}" for i in range(500)]
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    with pytest.raises(iam.IamInputError, match="10,240"):
        iam.parse_policy_document(json.dumps(document))
