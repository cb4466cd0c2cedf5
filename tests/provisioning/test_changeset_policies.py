"""Statement-level merging of the hand-edited `substrate.*.assume-role-policy.json` files."""

from __future__ import annotations

import json

import pytest
from changeset_checks import sample_grant

from provisioning.substrate import LayoutError, Strategy, generate_changeset, policies

pytestmark = pytest.mark.pure

OURS = policies.vendor_trust_statement(["123456789012"], "ext-1")
THEIRS = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::999999999999:role/X"},
    "Action": "sts:AssumeRole",
}

STYLES = {
    "pretty-4": json.dumps({"Version": "2012-10-17", "Statement": [THEIRS]}, indent=4) + "\n",
    "tabs": json.dumps({"Statement": [THEIRS], "Version": "2012-10-17"}, indent="\t"),
    "compact": json.dumps({"Version": "2012-10-17", "Statement": [THEIRS, THEIRS]}),
    "one-per-line": (
        '{\n  "Statement": [\n    {"Effect": "Allow"},\n    {"Effect": "Deny"}\n  ]\n}\n'
    ),
    "empty": '{"Version": "2012-10-17", "Statement": []}\n',
    "crlf": '{\r\n  "Statement": [\r\n    {"Effect": "Allow"}\r\n  ]\r\n}\r\n',
}


@pytest.mark.parametrize("name", list(STYLES))
def test_adding_keeps_existing_text_and_removing_restores_it(name):
    text = STYLES[name]
    edited = policies.add_statement(text, OURS, name)
    doc = json.loads(edited)
    original = json.loads(text)
    assert doc["Statement"] == [*original["Statement"], OURS]
    assert {k: v for k, v in doc.items() if k != "Statement"} == {
        k: v for k, v in original.items() if k != "Statement"
    }
    if original["Statement"]:
        # Everything before the end of the last existing statement is untouched.
        last_end = policies.locate_statements(text, name).spans[-1][1]
        assert edited[:last_end] == text[:last_end]
        assert edited.endswith(text[last_end:])
    assert policies.add_statement(edited, OURS, name) == edited
    assert policies.remove_statement(edited, OURS, name) == text


def test_new_statement_copies_the_style_of_its_neighbour():
    edited = policies.add_statement(STYLES["pretty-4"], OURS, "x")
    assert '\n        {\n            "Effect": "Allow",\n            "Principal": {\n' in edited
    edited = policies.add_statement(STYLES["tabs"], OURS, "x")
    assert '\n\t\t{\n\t\t\t"Effect": "Allow",' in edited


def test_removing_a_middle_statement_keeps_its_neighbours():
    first = policies.add_statement(STYLES["pretty-4"], OURS, "x")
    other = policies.vendor_trust_statement(["210987654321"], "ext-2")
    both = policies.add_statement(first, other, "x")
    assert policies.remove_statement(both, OURS, "x") == policies.add_statement(
        STYLES["pretty-4"], other, "x"
    )
    assert policies.remove_statement(both, THEIRS, "x").count('"ext-1"') == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "JSON object"),
        ('{"Statement": {"Effect": "Allow"}}', "Statement array"),
        ('{"Version": "2012-10-17"}', "Statement array"),
        ('{"Statement": [{"Effect": "Allow", "Principal": "*"}]}', "Principal Substrate rejects"),
        ('{"Statement": [], "Statement": []}', "duplicate key"),
        ('{"Statement": [1]}', "not an object"),
        ('{"Statement": [}', "invalid JSON"),
        ('\ufeff{"Statement": []}', "byte-order mark"),
    ],
)
def test_documents_substrate_would_reject_are_not_edited(text, message):
    with pytest.raises(LayoutError, match=message):
        policies.add_statement(text, OURS, "substrate.Auditor.assume-role-policy.json")


def test_generator_refuses_a_malformed_shared_file(make_repo):
    repo = make_repo("2024.08")
    (repo.root / "substrate.Administrator.assume-role-policy.json").write_text('{"Statement": {}}')
    with pytest.raises(LayoutError, match="Statement array"):
        generate_changeset(repo.root, sample_grant(repo, Strategy.ADMINISTRATOR))


def test_large_trust_policies_are_flagged_for_review(make_repo):
    repo = make_repo("2024.08")
    crowded = [
        policies.vendor_trust_statement([f"arn:aws:iam::{n:012d}:role/SomeVendorRole"], f"id-{n}")
        for n in range(12)
    ]
    (repo.root / "substrate.Auditor.assume-role-policy.json").write_text(
        policies.document_text(crowded)
    )
    changeset = generate_changeset(repo.root, sample_grant(repo, Strategy.AUDITOR))
    assert any("default quota is 2048" in warning for warning in changeset.warnings)
