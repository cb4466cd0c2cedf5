"""expected.py agrees with what the generator writes (a test-only cross-check).

The rendered change set is "applied" in the test: the HCL is read with python-hcl2, the
`role create` argv with its policy files, and the result is fed to compare() as what IAM
would show. Any disagreement between the generator and expected.py is then a difference.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from changeset_checks import parse_hcl, sample_grant

from provisioning.substrate import ChangeSet, Strategy, generate_changeset, policies
from provisioning.substrate.expected import SUBSTRATE_MANAGED_MINIMAL, expected_state
from provisioning.substrate.observed import ObservedRole, ObservedUser
from provisioning.substrate.verify import State, compare
from tests.fixtures.substrate_repo import FixtureRepo

pytestmark = pytest.mark.pure

VERSIONS = {"terraform": "2023.01", "role-create": "2024.08"}
OWN = [Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.IAM_USER]


def _document(data: dict[str, Any]) -> dict[str, Any]:
    """An aws_iam_policy_document block as the JSON the provider renders."""
    statements = []
    for st in data["statement"]:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow"), "Action": st["actions"]}
        if "resources" in st:
            out["Resource"] = st["resources"]
        for p in st.get("principals", []):
            out.setdefault("Principal", {})[p["type"]] = p["identifiers"]
        for c in st.get("condition", []):
            out.setdefault("Condition", {}).setdefault(c["test"], {})[c["variable"]] = c["values"]
        statements.append(out)
    return policies.document(statements)


def _files(cs: ChangeSet) -> dict[str, str]:
    return {f.path: f.content for f in cs.files if f.content is not None}


def _account_of(repo: FixtureRepo, path: str) -> list[str]:
    parts = path.split("/")
    if parts[:2] == ["root-modules", "admin"]:
        return [repo.substrate_account_id]
    if parts[0] == "root-modules":
        return [repo.service(parts[1], parts[2], parts[3]).id]
    return []  # a domain module: applied where the grant selects (see below)


def _terraform_observed(repo: FixtureRepo, cs: ChangeSet, targets: list[str]) -> list[Any]:
    files = _files(cs)
    seen: list[Any] = []
    for path, text in files.items():
        if not path.endswith(".tf"):
            continue
        tf = parse_hcl(text)
        docs = {
            label: _document(body)
            for block in tf.get("data", [])
            for label, body in block.get("aws_iam_policy_document", {}).items()
        }
        resources = {
            (kind, label): body
            for block in tf.get("resource", [])
            for kind, labels in block.items()
            for label, body in labels.items()
        }

        def policy_of(
            body: dict[str, Any], docs: dict[str, dict[str, Any]] = docs
        ) -> dict[str, Any]:
            ref = re.search(r"aws_iam_policy_document\.([\w-]+)", body["policy"])
            if ref:
                return docs[ref.group(1)]
            file_ = re.search(r"policies/[\w.-]+\.json", body["policy"])
            assert file_, body["policy"]
            return json.loads(files[file_.group(0)])

        inline = {
            b["name"]: policy_of(b)
            for (k, _l), b in resources.items()
            if k == "aws_iam_role_policy"
        }
        arns = frozenset(
            arn
            for (k, _l), b in resources.items()
            if k == "aws_iam_role_policy_attachment"
            for arn in re.findall(r'"(arn:aws:iam::[^"]+)"', b["for_each"])
        )
        for (kind, _label), body in resources.items():
            if kind == "aws_iam_user":
                user_policies = {
                    b["name"]: policy_of(b)
                    for (k, _l), b in resources.items()
                    if k == "aws_iam_user_policy"
                }
                seen.append(
                    ObservedUser(repo.substrate_account_id, body["name"], True, user_policies)
                )
            if kind != "aws_iam_role":
                continue
            trust_ref = re.search(r"aws_iam_policy_document\.([\w-]+)", body["assume_role_policy"])
            assert trust_ref
            trust = json.loads(json.dumps(docs[trust_ref.group(1)]))
            for st in trust["Statement"]:  # the IAM user's ARN, as the data source reads it
                st["Principal"]["AWS"] = [
                    f"arn:aws:iam::{repo.substrate_account_id}:user/{cs.vendor}"
                    if "data.aws_iam_user" in p
                    else p
                    for p in st["Principal"]["AWS"]
                ]
            for account in _account_of(repo, path) or targets:
                seen.append(ObservedRole(account, body["name"], True, trust, arns, inline))
    return seen


def _role_create_observed(repo: FixtureRepo, cs: ChangeSet) -> list[Any]:
    files = _files(cs)
    seen: list[Any] = []
    for command in cs.commands:
        argv = list(command.argv)
        if argv[:3] != ["substrate", "role", "create"]:
            continue
        values: dict[str, list[str]] = {}
        flags: set[str] = set()
        i = 3
        while i < len(argv):
            flag = argv[i].lstrip("-")
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                values.setdefault(flag, []).append(argv[i + 1])
                i += 2
            else:
                flags.add(flag)
                i += 1
        trust = policies.document(
            st for f in values["assume-role-policy"] for st in json.loads(files[f])["Statement"]
        )
        managed = policies.document(
            [SUBSTRATE_MANAGED_MINIMAL]
            + [st for f in values.get("policy", []) for st in json.loads(files[f])["Statement"]]
        )
        arns = set(values.get("policy-arn", []))
        if "read-only-access" in flags:
            arns.add("arn:aws:iam::aws:policy/ReadOnlyAccess")
        if "administrator-access" in flags:
            arns.add("arn:aws:iam::aws:policy/AdministratorAccess")
        accounts = [repo.substrate_account_id] if "substrate" in flags else []
        accounts += [
            a.id
            for a in repo.services()
            if a.domain in values.get("domain", [])
            and a.environment in values.get("environment", [])
            and a.quality in values.get("quality", [])
        ]
        for account in accounts:
            seen.append(
                ObservedRole(
                    account,
                    values["role"][0],
                    True,
                    trust,
                    # role create attaches in the Substrate account only with --substrate
                    frozenset(arns),
                    {"SubstrateManaged": managed},
                )
            )
    return seen


@pytest.mark.parametrize("dialect", sorted(VERSIONS))
@pytest.mark.parametrize("strategy", OWN)
def test_expected_state_is_what_the_generator_writes(make_repo, strategy, dialect):
    repo = make_repo(version=VERSIONS[dialect])
    grant = sample_grant(repo, strategy)
    cs = generate_changeset(repo.root, grant)
    assert cs.dialect == dialect
    expected = expected_state(
        grant, dialect=cs.dialect, substrate_account_id=repo.substrate_account_id
    )
    targets = [a.id for a in grant.accounts]
    if dialect == "terraform":
        seen = _terraform_observed(repo, cs, targets)
    else:
        seen = _role_create_observed(repo, cs)
        if strategy is Strategy.IAM_USER:  # the user is Terraform in both dialects
            seen += [o for o in _terraform_observed(repo, cs, []) if isinstance(o, ObservedUser)]
    verdict = compare(expected, seen)
    assert verdict.state is State.MATCHES, [a for a in verdict.accounts]
    assert {o.account_id for o in seen} == set(expected.accounts())


@pytest.mark.parametrize("dialect", sorted(VERSIONS))
@pytest.mark.parametrize("strategy", [Strategy.AUDITOR, Strategy.ADMINISTRATOR])
def test_shared_role_statement_is_the_one_the_generator_appends(make_repo, strategy, dialect):
    repo = make_repo(version=VERSIONS[dialect])
    grant = sample_grant(repo, strategy)
    cs = generate_changeset(repo.root, grant)
    role = "Auditor" if strategy is Strategy.AUDITOR else "Administrator"
    text = _files(cs)[f"substrate.{role}.assume-role-policy.json"]
    by_type = {a.id: a.type for a in repo.accounts}
    expected = expected_state(grant, dialect=cs.dialect, accounts_by_type=by_type)
    # Substrate merges that file (plus its canonical statements) into every listed role.
    seen = [
        ObservedRole(account, name, True, json.loads(text))
        for account, name in expected.roles_to_read()
    ]
    assert compare(expected, seen).state is State.MATCHES
    assert set(expected.accounts()) == set(by_type)
