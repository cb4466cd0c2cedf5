"""HCL, JSON, path and shell injection through the request form, up to the generated change.

Each hostile value goes in through HTTP (the request form, the vendor form) against a real
Substrate repository, and must either be refused at the form with an error on its field, or
come out inert in the change the request page previews and the pull request carries: every
.tf file parses (python-hcl2) to the blocks a grant always has and the value reads back as the
exact literal; every .json file parses to the same strings; every path stays inside the
repository; every command splits (shlex) into the argv the value was meant to be one part of.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import iam
from approvals.models import AccessRequest
from inventory.models import AwsAccount
from tests.approvals.test_requests import _git_repo_of
from tests.factories import staging_account
from tests.fixtures.substrate_repo import FixtureRepo, build_repo
from tests.provisioning.changeset_checks import blocks, hcl_string, parse_hcl
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

# What a Terraform or template injection would try: close the string and open a block,
# interpolate, run a template directive, start a heredoc, or just break the line.
HCL_ATTACKS = [
    'x" }\nresource "aws_iam_user" "evil" {\n  name = "x',
    '${file("/etc/passwd")}',
    "%{ for x in [1] }${x}%{ endfor }",
    "<<EOF\nevil\nEOF",
    "a\nb",
    'a\\"b',
    "x'; touch /tmp/pwned; echo '",
    "$(touch /tmp/pwned)",
    "`id`",
]
# Legal in IAM, odd everywhere else: these must be accepted and come out unchanged.
ODD_ROLE = "A=B,C.D@E+F-G_H"
ODD_EXTERNAL_ID = "x:/=,.@+-_y-0123456789"
ODD_PRINCIPAL = "arn:aws:iam::123456789012:role/odd.path=1,2@x/Vendor+Role_-"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@pytest.fixture(autouse=True)
def _fast_passwords(settings) -> None:
    """Users are signed in with force_login here: hashing their passwords slowly buys nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def repositories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FixtureRepo]:
    """One Substrate repository per dialect, built once: the tests only read them."""
    repos = {}
    for version in ("2023.02", "2024.08"):
        repo = build_repo(tmp_path_factory.mktemp("substrate") / version, version=version)
        _git_repo_of(repo.root)
        repos[version] = repo
    return repos


@pytest.fixture(params=["2023.02", "2024.08"], ids=["terraform", "role-create"])
def substrate(request, repositories, settings) -> FixtureRepo:
    """A Substrate repository of either dialect, and its service accounts in the inventory."""
    repo = repositories[request.param]
    settings.SUBSTRATE_REPO_URL = str(repo.root)
    for account in repo.accounts:
        if account.type == "service":
            AwsAccount.objects.create(
                account_id=account.id,
                name=f"{account.domain}-{account.environment}-{account.quality}",
                account_type="service",
                domain=account.domain,
                environment=account.environment,
                quality=account.quality,
                status="active",
            )
    return repo


@pytest.fixture
def engineer(make_user, client):  # type: ignore[no-untyped-def]
    user = make_user("erin")
    client.force_login(user)
    return user


def _form(vendor: Vendor, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "vendor": vendor.pk,
        "strategy": "role_per_account",
        "principals": "arn:aws:iam::123456789012:role/OrbitCi",
        "external_id": "",
        "domains": ["payments"],
        "environments": ["staging"],
        "qualities": ["*"],
        "role_name": "OrbitCiReadOnly",
        "policy_source": "managed",
        "managed_policy_arns": [READ_ONLY],
        "justification": "CI",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    return {**data, **overrides}


def _file_request(client: Any, data: dict[str, Any]) -> Any:
    return client.post(reverse("approvals:request_new"), data)


def _saved(response: Any) -> AccessRequest:
    assert response.status_code == 302, response.context["form"].errors
    access_request = AccessRequest.objects.latest("pk")
    assert access_request.preview is not None
    assert "error" not in access_request.preview, access_request.preview
    return access_request


def _preview(access_request: AccessRequest) -> dict[str, Any]:
    assert access_request.preview is not None
    return access_request.preview


def _files(access_request: AccessRequest) -> Iterator[tuple[str, str]]:
    for change in _preview(access_request)["files"]:
        yield change["path"], change["content"] or ""


def _check_paths_stay_inside(access_request: AccessRequest, root: Path) -> None:
    for path, _content in _files(access_request):
        pure = PurePosixPath(path)
        assert not pure.is_absolute(), path
        assert ".." not in pure.parts, path
        assert (root / path).resolve().is_relative_to(root.resolve()), path


def _tf_roles(access_request: AccessRequest) -> list[dict[str, Any]]:
    """The vendor roles of every generated .tf file, each file proven to hold nothing else."""
    roles = []
    for path, content in _files(access_request):
        if not path.endswith(".tf"):
            continue
        parsed = parse_hcl(content)
        assert set(parsed) <= {"data", "resource"}, (path, set(parsed))
        resources = {
            (kind, name)
            for entry in parsed.get("resource", [])
            for kind in entry
            for name in entry[kind]
        }
        assert {kind for kind, _name in resources} <= {
            "aws_iam_role",
            "aws_iam_role_policy",
            "aws_iam_role_policy_attachment",
        }, (path, resources)
        trust = blocks(parsed, "data", "aws_iam_policy_document")
        for name, role in blocks(parsed, "resource", "aws_iam_role").items():
            statement = trust[f"{name}-trust"]["statement"][0]
            roles.append(
                {
                    "name": hcl_string(role["name"]),
                    "principals": [
                        hcl_string(i) for p in statement["principals"] for i in p["identifiers"]
                    ],
                    "external_ids": [
                        hcl_string(v) for c in statement["condition"] for v in c["values"]
                    ],
                }
            )
    return roles


def _json_trust_documents(access_request: AccessRequest) -> list[dict[str, Any]]:
    return [
        json.loads(content)
        for path, content in _files(access_request)
        if path.endswith(".assume-role-policy.json")
    ]


def _argv(access_request: AccessRequest) -> list[list[str]]:
    commands = [shlex.split(line) for line in _preview(access_request)["commands"]]
    for argv in commands:
        assert argv[0] == "substrate", argv
    return commands


# -- refused at the form -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["role_name", "external_id", "principals"])
def test_hostile_identifiers_are_refused_at_the_form(client, vendor, field):
    staging_account()
    for attack in HCL_ATTACKS:
        value = f"arn:aws:iam::123456789012:role/{attack}/V" if field == "principals" else attack
        response = _file_request(client, _form(vendor, **{field: value}))
        assert response.status_code == 400, attack
        errors = response.context["form"].errors
        assert field in errors, (attack, errors)
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        'arn:aws:iam::123456789012:role/"${x}"/V',  # quotes and interpolation in the path
        "arn:aws:iam::123456789012:role/a\\b/V",
        "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662",  # Arabic digits
        "arn:aws:iam::123456789012:role/\u00c5dmin",
    ],
)
def test_principals_outside_the_generators_alphabet_are_refused(value):
    with pytest.raises(iam.IamInputError):
        iam.parse_principals(value)


@pytest.mark.parametrize("check", [iam.check_external_id, iam.check_role_name])
def test_a_trailing_newline_is_not_part_of_a_valid_name(check):
    check("Valid-Name")
    with pytest.raises(iam.IamInputError):
        check("Valid-Name\n")


@pytest.mark.parametrize(
    "slug",
    [
        "../../etc",
        "orbit/../../x",
        "/abs",
        "a\\b",
        "orbit ci",
        "ORBIT",
        "a" * 41,  # the model takes 48; the change-set generator at most 40
        "acme-hub",  # would share the derived "acme-hub" names of vendor "acme"
    ],
)
def test_unsafe_vendor_slugs_are_refused(client, engineer, slug):
    data = {
        **vendor_data(engineer, slug=slug),
        "internal_owner": engineer.pk,
    }
    response = client.post(reverse("vendors:create"), data)
    assert response.status_code == 200
    assert "slug" in response.context["form"].errors
    assert not Vendor.objects.exists()


def test_the_slug_cannot_be_changed_after_creation(client, vendor, engineer):
    data = {**vendor_data(engineer, slug="../../etc"), "internal_owner": engineer.pk}
    client.post(reverse("vendors:edit", kwargs={"pk": vendor.pk}), data)
    vendor.refresh_from_db()
    assert vendor.slug == "orbit-ci"


def test_a_permission_policy_naming_a_principal_is_refused(client, vendor, engineer, substrate):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
        ],
    }
    response = _file_request(
        client, _form(vendor, policy_source="inline", inline_policy=json.dumps(policy))
    )
    assert "inline_policy" in response.context["form"].errors


def test_a_generator_resource_that_is_no_arn_is_refused_at_its_field(client, vendor):
    """policy_sentry raises a bare exception on it, which used to be a server error."""
    staging_account()
    response = _file_request(
        client,
        _form(
            vendor,
            policy_source="generated",
            generator_service="s3",
            generator_levels=["read"],
            generator_resources="arn:aws:s3:::bucket/key not-an-arn",
        ),
    )
    assert response.status_code == 400
    assert "not-an-arn" in " ".join(response.context["form"].errors["generator_resources"])


# -- accepted, and inert in the change set -------------------------------------------------------


def test_odd_but_legal_identifiers_come_out_exactly_as_typed(client, vendor, engineer, substrate):
    access_request = _saved(
        _file_request(
            client,
            _form(
                vendor,
                role_name=ODD_ROLE,
                external_id=ODD_EXTERNAL_ID,
                principals=ODD_PRINCIPAL,
            ),
        )
    )
    _check_paths_stay_inside(access_request, substrate.root)
    if substrate.version < "2023.03":  # the Terraform dialect
        roles = _tf_roles(access_request)
        assert roles, _preview(access_request)["files"]
        for role in roles:
            assert role == {
                "name": ODD_ROLE,
                "principals": [ODD_PRINCIPAL],
                "external_ids": [ODD_EXTERNAL_ID],
            }
        assert _argv(access_request)  # create-account runs, with fixed arguments
    else:
        (trust,) = _json_trust_documents(access_request)
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"AWS": [ODD_PRINCIPAL]}
        assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": ODD_EXTERNAL_ID}}
        role_commands = [argv for argv in _argv(access_request) if "--role" in argv]
        assert role_commands
        for argv in role_commands:
            assert argv[argv.index("--role") + 1] == ODD_ROLE


def test_json_injection_in_an_inline_policy_stays_inside_its_strings(
    client, vendor, engineer, substrate
):
    hostile = '"}], "Principal": "*", "x": [{"a": "${x}%{y}\\\n</script>\u2028'
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::bucket/{hostile}"],
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": hostile}},
            }
        ],
    }
    access_request = _saved(
        _file_request(
            client, _form(vendor, policy_source="inline", inline_policy=json.dumps(policy))
        )
    )
    _check_paths_stay_inside(access_request, substrate.root)
    documents = [
        json.loads(content)
        for path, content in _files(access_request)
        if path.endswith(".policy.json") and "assume-role" not in path
    ]
    assert documents == [policy]  # the same strings, no new key, no new statement
    for path, content in _files(access_request):
        if path.endswith(".tf"):
            parsed = parse_hcl(content)  # still parses; the policy is read with file(), not inlined
            assert hostile not in json.dumps(parsed)


def test_free_text_never_reaches_the_generated_files(client, engineer, substrate):
    for number, attack in enumerate(HCL_ATTACKS):
        vendor = vendor_services.vendor_create(
            actor=engineer,
            data=vendor_data(engineer, name="Orbit", slug=f"orbit-{number}", purpose=attack),
        )
        # The services refuse line breaks in names; a name stored past them is free text too.
        Vendor.objects.filter(pk=vendor.pk).update(name=f"Orbit {attack}")
        vendor.refresh_from_db()
        access_request = _saved(_file_request(client, _form(vendor, justification=attack)))
        assert access_request.justification == attack.strip()
        for path, content in _files(access_request):
            assert attack not in content, path
            assert "evil" not in content, path
            if path.endswith(".tf"):
                parse_hcl(content)
            elif path.endswith(".json"):
                json.loads(content)
        for line in _preview(access_request)["commands"]:
            assert attack not in line
            assert "pwned" not in line


def test_a_hostile_account_tag_from_the_inventory_is_refused_by_the_generator(
    client, vendor, engineer, substrate
):
    """Domains come from AWS account tags; one that is not a safe name never reaches a command."""
    AwsAccount.objects.create(
        account_id="999988887777",
        name="evil",
        account_type="service",
        domain="pay;touch${IFS}x",
        environment="staging",
        quality="alpha",
        status="active",
    )
    response = _file_request(
        client, _form(vendor, domains=["pay;touch${IFS}x"], environments=["*"])
    )
    access_request = AccessRequest.objects.get()
    assert response.status_code == 302
    assert "cannot be generated" in _preview(access_request)["error"]
    assert "pay;touch${IFS}x" in _preview(access_request)["error"]
    assert "files" not in _preview(access_request)


def test_the_pull_request_body_shows_hostile_text_inert(client, engineer, substrate):
    from approvals.requests import grant_for
    from fulfilment.services import request_body
    from provisioning.substrate import generate_changeset

    name = "Evil <script>alert(1)</script> [x](javascript:alert(1)) @org/security ![i](http://x)"
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer, name=name))
    access_request = _saved(_file_request(client, _form(vendor)))
    body = request_body(
        access_request, generate_changeset(substrate.root, grant_for(access_request))
    )
    assert not re.search(r"(?<!\\)<(script|img)", body)
    assert "](javascript:" not in body
    assert "![i](" not in body
    assert "@org/security" not in body  # the mention is defused with a word joiner
    assert "Evil" in body
