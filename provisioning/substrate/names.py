"""Validation of every identifier that reaches a file name, HCL, JSON or a shell command.

Validation happens once, when a `Grant` is built, so the renderers only ever see values that
are safe for every target. Each check raises `GrantError` naming the field; nothing is
"cleaned up" silently, because a silently altered role name or external id would grant
something other than what was approved.

The portal's request form validates with these same functions (approvals/iam.py calls them),
so that a value the form accepts is one the generator accepts: a request must never be
approved and then fail at fulfilment.

All patterns are matched with `re.fullmatch` and ASCII semantics: `$` would accept a trailing
newline and `\\w` would accept any Unicode letter, neither of which IAM allows.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import GrantError

# Vendor slugs become file names, Terraform identifiers, an IAM user name and tag values, so
# they take the intersection of all those alphabets: lower-case letters and digits with single
# inner hyphens, starting with a letter (Terraform identifiers cannot start with a digit).
VENDOR_SLUG = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,39}", re.ASCII)

# Suffixes the generator appends to a slug (`policies/<v>-hub.assume-role-policy.json` and
# `policies/<v>-user.assume-role-policy.json`, the `<v>-hub` and `<v>-trust` Terraform labels).
# A vendor whose slug already ends in one would share those names with another vendor ("acme"
# and "acme-hub"), and one grant would overwrite or revoke the other's files and resources.
DERIVED_SUFFIXES = ("-hub", "-trust", "-user")

# IAM role and user names: [\w+=,.@-]{1,64} with ASCII \w (IAM API reference).
IAM_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}", re.ASCII)

# sts:ExternalId: 2 to 1,224 characters of [\w+=,.@:/-] (STS AssumeRole reference).
EXTERNAL_ID = re.compile(r"[A-Za-z0-9_+=,.@:/-]{2,1224}", re.ASCII)

ACCOUNT_ID = re.compile(r"[0-9]{12}", re.ASCII)

# Role or user ARN, optionally with an IAM path. Path segments use the IAM name alphabet: IAM
# would accept more (any printable ASCII), but nothing a vendor legitimately uses needs it.
PRINCIPAL_ARN = re.compile(
    r"arn:aws:iam::[0-9]{12}:(?:role|user)/(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}",
    re.ASCII,
)
# The account root, as vendors publish it: IAM reads it as the account id, and so does the
# portal (`canonical_principal`).
ROOT_ARN = re.compile(r"arn:aws:iam::([0-9]{12}):root", re.ASCII)
# ARNs of the other partitions. Substrate's organizations live in the `aws` partition (its
# ARNs hard-code it), and IAM does not let a role in one partition trust a principal or attach
# a policy of another, so these are refused with that reason rather than as "not an ARN".
OTHER_PARTITION = re.compile(r"arn:(aws-us-gov|aws-cn|aws-iso[a-z-]*):", re.ASCII)

POLICY_ARN = re.compile(
    r"arn:aws:iam::(?:aws|[0-9]{12}):policy/(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,128}",
    re.ASCII,
)

# Domains, environments and qualities are directory names in the repository and values of
# account tags; Substrate forbids '.', ',' and spaces. We accept a conservative subset.
DIMENSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)

# Request ids end up in a comment line and a tag value: the tag-value alphabet minus spaces.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/=+@-]{0,127}", re.ASCII)

# IAM role descriptions: [\t\n\r\x20-\x7E\xA1-\xFF]{0,1000} (IAM CreateRole reference).
ROLE_DESCRIPTION = re.compile(r"[\t\n\r\x20-\x7E\xA1-\xFF]{0,1000}")

# Role names Substrate manages itself; a vendor role of the same name (IAM names are
# case-insensitive) would fight with Substrate over the role's policies on every run.
RESERVED_ROLE_NAMES = frozenset(
    name.lower()
    for name in (
        "Administrator",
        "Auditor",
        "AuditAdministrator",
        "DeployAdministrator",
        "NetworkAdministrator",
        "OrganizationAdministrator",
        "OrganizationReader",
        "Substrate",
        "TerraformStateManager",
        "OrganizationAccountAccessRole",
    )
)

# IAM user names Substrate uses (management and Substrate accounts); the IAM-user strategy
# names its user after the vendor's slug, and IAM user names are case-insensitive.
RESERVED_USER_NAMES = frozenset({"substrate"})

AWS_MANAGED_READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AWS_MANAGED_ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"


def _require_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise GrantError(field, f"expected a string, got {type(value).__name__}")
    return value


def vendor_slug(value: object, field: str = "vendor") -> str:
    """Returns `value` if it is a valid vendor slug, else raises `GrantError`."""
    text = _require_str(field, value)
    if not VENDOR_SLUG.fullmatch(text):
        raise GrantError(
            field,
            f"{text!r} is not a vendor slug (lower-case letters and digits with single inner "
            "hyphens, starting with a letter, at most 40 characters)",
        )
    if text in RESERVED_USER_NAMES:
        raise GrantError(
            field,
            f"{text!r} would name the IAM user of an IAM-user grant like Substrate's own user "
            "(IAM user names ignore case); choose another slug",
        )
    if text.endswith(DERIVED_SUFFIXES):
        raise GrantError(
            field,
            f"{text!r} ends in {', '.join(DERIVED_SUFFIXES)}, which the portal appends to other "
            "vendors' names; choose another slug",
        )
    return text


def role_name(value: object, field: str = "role_name") -> str:
    """Returns `value` if it is a valid IAM role name not reserved by Substrate."""
    text = _require_str(field, value)
    if not IAM_NAME.fullmatch(text):
        raise GrantError(field, f"{text!r} is not an IAM role name ([A-Za-z0-9_+=,.@-]{{1,64}})")
    if text.lower() in RESERVED_ROLE_NAMES:
        raise GrantError(field, f"{text!r} is a role Substrate manages itself")
    return text


HUB_SUFFIX = "Hub"

# The inline policy names that end up in IAM: the generator writes them and verification
# reads them back, so both take them from here and cannot disagree.
HUB_POLICY_SUFFIX = "-hub"
# `substrate role create` always writes this inline policy, and merges `--policy` files into it.
SUBSTRATE_MANAGED_POLICY = "SubstrateManaged"


def hub_policy_name(vendor: str) -> str:
    """The hub role's inline policy (terraform dialect): `<vendor>-hub`."""
    return f"{vendor}{HUB_POLICY_SUFFIX}"


def hub_role_name(value: object, field: str = "role_name") -> str:
    """The hub role's name for spoke role `value` (hub_role strategy): both must be valid."""
    text = role_name(value, field)
    hub = f"{text}{HUB_SUFFIX}"
    if len(hub) > 64:
        raise GrantError(
            field,
            f"the hub role is named after it plus {HUB_SUFFIX!r}, and IAM role names have at "
            f"most 64 characters: use at most {64 - len(HUB_SUFFIX)}",
        )
    return role_name(hub, field)


def external_id(value: object, field: str = "external_id") -> str:
    """Returns `value` if it is a valid `sts:ExternalId`."""
    text = _require_str(field, value)
    if not EXTERNAL_ID.fullmatch(text):
        raise GrantError(
            field, "an external id is 2 to 1,224 characters of letters, digits and _+=,.@:/-"
        )
    return text


def _other_partition(text: str, field: str, what: str) -> None:
    match = OTHER_PARTITION.match(text)
    if match:
        raise GrantError(
            field,
            f"{text!r} is in the {match.group(1)} partition: Substrate organizations are in the "
            f"aws partition, and IAM cannot {what} across partitions",
        )


def principal(value: object, field: str = "principals") -> str:
    """Returns `value` if it is a 12-digit account id, an account root ARN or an IAM role or
    user ARN, all in the `aws` partition."""
    text = _require_str(field, value)
    if ACCOUNT_ID.fullmatch(text) or ROOT_ARN.fullmatch(text):
        return text
    if PRINCIPAL_ARN.fullmatch(text) and len(text) <= 2048:
        return text
    _other_partition(text, field, "trust a principal")
    raise GrantError(
        field, f"{text!r} is neither a 12-digit account id nor an IAM role or user ARN"
    )


def canonical_principal(value: object, field: str = "principals") -> str:
    """`principal(value)`, with an account root ARN as the account id IAM reads it as (so the
    same account is not listed twice under two spellings)."""
    text = principal(value, field)
    root = ROOT_ARN.fullmatch(text)
    return root.group(1) if root else text


def account_id(value: object, field: str) -> str:
    """Returns `value` if it is a 12-digit AWS account id."""
    text = _require_str(field, value)
    if not ACCOUNT_ID.fullmatch(text):
        raise GrantError(field, f"{text!r} is not a 12-digit AWS account id")
    return text


def dimension(value: object, field: str) -> str:
    """Returns `value` if it is a safe domain, environment or quality name."""
    text = _require_str(field, value)
    if not DIMENSION_NAME.fullmatch(text):
        raise GrantError(field, f"{text!r} is not a valid name ([A-Za-z0-9][A-Za-z0-9_-]*)")
    return text


def policy_arn(value: object, field: str = "managed_policy_arns") -> str:
    """Returns `value` if it is an IAM managed policy ARN of the `aws` partition."""
    text = _require_str(field, value)
    if not POLICY_ARN.fullmatch(text):
        _other_partition(text, field, "attach a policy")
        raise GrantError(field, f"{text!r} is not an IAM managed policy ARN")
    return text


# IAM attaches at most 20 managed policies to a role (quota raised on request from 10).
MAX_MANAGED_POLICIES = 20


def policy_arns(values: object, field: str = "managed_policy_arns") -> tuple[str, ...]:
    """Returns the ARNs if each is valid and together they can be attached to one role."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise GrantError(field, "must be a list of strings")
    arns = tuple(policy_arn(value, field) for value in values)
    if len(set(arns)) != len(arns):
        raise GrantError(field, "lists the same policy twice")
    if len(arns) > MAX_MANAGED_POLICIES:
        raise GrantError(field, f"IAM attaches at most {MAX_MANAGED_POLICIES} managed policies")
    if {AWS_MANAGED_ADMINISTRATOR, AWS_MANAGED_READ_ONLY} <= set(arns):
        # `role create` refuses --administrator-access with --read-only-access, and the
        # first already allows everything the second does.
        raise GrantError(field, "AdministratorAccess already includes ReadOnlyAccess")
    return arns


def request_id(value: object, field: str = "request_id") -> str:
    """Returns `value` if it is empty or a safe request reference."""
    text = _require_str(field, value)
    if text and not REQUEST_ID.fullmatch(text):
        raise GrantError(
            field, f"{text!r} is not a request id (letters, digits and _.:/=+@-, at most 128)"
        )
    return text


def description(value: object, field: str = "description") -> str:
    """Returns `value` in Unicode NFC if IAM accepts it as a role description.

    Terraform normalizes every string to NFC (checked with Terraform 1.15), so a description
    that is not in NFC would not round-trip; normalizing here, at the model boundary, makes the
    grant hold exactly the text that ends up in the repository.
    """
    text = _require_str(field, value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise GrantError(field, "contains unpaired surrogates") from exc
    text = unicodedata.normalize("NFC", text)
    if not ROLE_DESCRIPTION.fullmatch(text):
        raise GrantError(
            field,
            "IAM role descriptions are at most 1,000 characters of printable Latin-1, "
            "tab and newline",
        )
    return text


# IAM caps a role's inline policies at 10,240 characters in total (whitespace not counted).
INLINE_POLICY_LIMIT = 10_240


def policy_document(value: object, field: str = "inline_policy") -> dict[str, Any]:
    """Validates an inline IAM policy document and returns a private deep copy of it."""
    if not isinstance(value, Mapping):
        raise GrantError(field, "must be a JSON object")
    try:
        # Round-tripping through the JSON encoder both deep-copies and proves the value is
        # plain JSON (no NaN, no sets, no custom objects) before anything renders it.
        text = json.dumps(value, allow_nan=False, sort_keys=False)
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise GrantError(field, f"is not plain JSON: {exc}") from exc
    if doc.get("Version") != "2012-10-17":
        raise GrantError(field, 'needs "Version": "2012-10-17"')
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise GrantError(field, "needs a non-empty Statement array")
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise GrantError(field, 'every statement needs "Effect": "Allow" or "Deny"')
        if "Principal" in statement or "NotPrincipal" in statement:
            raise GrantError(field, "a permission policy cannot name a principal")
    if len(json.dumps(doc, separators=(",", ":"))) > INLINE_POLICY_LIMIT:
        raise GrantError(field, "is longer than IAM's 10,240-character inline limit")
    return doc
