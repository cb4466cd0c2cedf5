"""Validation of every identifier that reaches a file name, HCL, JSON or a shell command.

Validation happens once, when a `Grant` is built, so the renderers only ever see values that
are safe for every target. Each check raises `GrantError` naming the field; nothing is
"cleaned up" silently, because a silently altered role name or external id would grant
something other than what was approved.

All patterns are matched with `re.fullmatch` and ASCII semantics: `$` would accept a trailing
newline and `\\w` would accept any Unicode letter, neither of which IAM allows.
"""

from __future__ import annotations

import re
import unicodedata

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


def external_id(value: object, field: str = "external_id") -> str:
    """Returns `value` if it is a valid `sts:ExternalId`."""
    text = _require_str(field, value)
    if not EXTERNAL_ID.fullmatch(text):
        raise GrantError(
            field, "an external id is 2 to 1,224 characters of letters, digits and _+=,.@:/-"
        )
    return text


def principal(value: object, field: str = "principals") -> str:
    """Returns `value` if it is a 12-digit account id or an IAM role or user ARN."""
    text = _require_str(field, value)
    if ACCOUNT_ID.fullmatch(text):
        return text
    if PRINCIPAL_ARN.fullmatch(text) and len(text) <= 2048:
        return text
    raise GrantError(
        field, f"{text!r} is neither a 12-digit account id nor an IAM role or user ARN"
    )


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
    """Returns `value` if it is an IAM managed policy ARN."""
    text = _require_str(field, value)
    if not POLICY_ARN.fullmatch(text):
        raise GrantError(field, f"{text!r} is not an IAM managed policy ARN")
    return text


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
