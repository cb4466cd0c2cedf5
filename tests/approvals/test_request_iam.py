"""IAM checks for requests with hostile input: principals, ids, names, policies, risk."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

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
    assert codes["UNKNOWN_ACTION"] == "error"  # IAM refuses an action that does not exist
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


def test_each_misspelt_action_is_an_error_naming_it_and_the_likely_one():
    findings = iam.lint_policy(
        _policy(["s3:GetObjekt", "s3:PutObjekt", "ec2:DescribeInstancez", "s33:GetObject"])
    )
    messages = [f.message for f in findings if f.severity == "error"]
    assert messages == [
        "s3:GetObjekt is not an Amazon S3 action; did you mean s3:GetObject?",
        "s3:PutObjekt is not an Amazon S3 action; did you mean s3:PutObject?",
        "ec2:DescribeInstancez is not an Amazon EC2 action; did you mean ec2:DescribeInstances?",
        "s33:GetObject: s33 is not an AWS service prefix; did you mean s3:GetObject?",
    ]
    lone = iam.lint_policy(_policy(["s3:Zzqxv", "s3:Get*zq"]))
    assert [f.message for f in lone] == [
        "s3:Zzqxv is not an Amazon S3 action.",
        "s3:Get*zq matches no Amazon S3 action.",
    ]


def test_many_misspelt_actions_are_named_up_to_a_limit_then_counted():
    findings = iam.lint_policy(_policy([f"s3:NoSuchAction{i}" for i in range(25)]))
    assert all(f.severity == "error" for f in findings)
    assert len(findings) == 21
    assert findings[0].message.startswith("s3:NoSuchAction0 is not an Amazon S3 action")
    assert findings[-1].message == "5 more unknown actions."


def test_a_misspelt_action_blocks_approval_like_any_error():
    document = iam.parse_policy_document(json.dumps(_policy(["s3:GetObjekt"])))
    assert any(f.severity == "error" for f in iam.lint_policy(document))


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


def _passes_the_portals_checks(policy: dict[str, Any]) -> None:
    """What a typed-in policy meets before a request with it can be approved: IAM's grammar
    and limits (parse_policy_document) and no lint error (approval_blockers); and, for a
    least-privilege proposal, nothing admin-equivalent (which would make it critical)."""
    assert iam.parse_policy_document(json.dumps(policy)) == policy
    errors = [f for f in iam.lint_policy(policy) if f.severity == "error"]
    assert errors == []
    assert iam.admin_equivalent_reasons([], policy) == []


# Services whose policy_sentry data runs ahead of parliament's (actions parliament does not
# know), the service-from-the-ARN trap, and the levels that pull in dependent actions.
GENERATOR_TABLE = [
    ("s3", ["read"], []),
    ("s3", list(iam.GENERATOR_LEVELS), []),
    ("s3", ["read", "write"], ["arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"]),
    ("s3", ["read"], ["arn:aws:s3:::*"]),
    ("iam", ["permissions-management", "write"], []),
    ("iam", ["write", "permissions-management"], ["arn:aws:iam::123456789012:role/x"]),
    ("sts", ["write"], []),
    ("kms", ["read", "write", "permissions-management"], ["arn:aws:kms:us-east-1:1:key/abc"]),
    ("ec2", ["write", "permissions-management", "tagging"], []),
    ("ec2", ["write"], ["arn:aws:ec2:us-east-1:123456789012:instance/*"]),
    ("lambda", ["read", "list"], ["arn:aws:lambda:us-east-1:123456789012:function:f"]),
    ("logs", ["read"], ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:*"]),
]


@pytest.mark.parametrize(("service", "levels", "arns"), GENERATOR_TABLE)
def test_the_generator_proposes_only_policies_the_portal_accepts(service, levels, arns):
    try:
        policy = iam.generate_least_privilege_policy(
            service=service, access_levels=levels, resource_arns=arns
        )
    except iam.IamInputError:
        return  # refused with a reason the form shows: nothing proposed
    _passes_the_portals_checks(policy)
    services = {a.split(":")[0] for s in policy["Statement"] for a in s["Action"]}
    assert services == {service}  # what was asked for, not policy_sentry's dependencies


def test_the_generator_refuses_resources_of_another_service():
    with pytest.raises(iam.IamInputError, match="is a resource of s3, not ec2"):
        iam.generate_least_privilege_policy(
            service="ec2", access_levels=["read"], resource_arns=["arn:aws:s3:::bucket/*"]
        )
    with pytest.raises(iam.IamInputError, match=r"prefix\. Did you mean dynamodb"):
        iam.generate_least_privilege_policy(
            service="dynamodbb", access_levels=["read"], resource_arns=[]
        )


def test_one_proposal_carries_nothing_of_the_previous_one():
    """policy_sentry's template is one shared dict: filled in place, a vendor's ARNs would
    leak into the next vendor's proposal."""
    iam.generate_least_privilege_policy(
        service="s3", access_levels=["write"], resource_arns=["arn:aws:s3:::other-vendor/*"]
    )
    policy = iam.generate_least_privilege_policy(
        service="s3", access_levels=["read"], resource_arns=["arn:aws:s3:::exports"]
    )
    text = json.dumps(policy)
    assert "other-vendor" not in text
    assert not any(a.startswith("s3:Put") for s in policy["Statement"] for a in s["Action"])


_SERVICES = ["s3", "ec2", "iam", "kms", "sts", "lambda", "logs", "sqs", "dynamodb", "ssm"]


@st.composite
def _generator_inputs(draw: Any) -> tuple[str, list[str], list[str]]:
    """A service, levels and ARNs, most ARNs of the named service (so most reach policy_sentry)."""
    service = draw(st.sampled_from(_SERVICES))
    levels = draw(
        st.lists(st.sampled_from(iam.GENERATOR_LEVELS), min_size=1, max_size=5, unique=True)
    )
    arn = st.tuples(
        st.sampled_from([service] * 9 + _SERVICES),
        st.sampled_from(["", "us-east-1"]),
        st.sampled_from(["", "123456789012"]),
        st.from_regex(r"[a-z*/:-]{1,20}", fullmatch=True),
    ).map(lambda t: f"arn:aws:{t[0]}:{t[1]}:{t[2]}:{t[3]}")
    return service, levels, draw(st.lists(arn, max_size=3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_generator_inputs())
def test_no_proposal_fails_the_portals_checks(inputs):
    service, levels, arns = inputs
    try:
        policy = iam.generate_least_privilege_policy(
            service=service, access_levels=levels, resource_arns=arns
        )
    except iam.IamInputError:
        event("refused")
        return
    event("proposed")
    _passes_the_portals_checks(policy)


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
