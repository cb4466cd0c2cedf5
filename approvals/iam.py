"""IAM checks for access requests: principals, names, policy grammar and size, lint, risk.

Pure functions (no Django, no network). parliament lints policies with its community auditors;
policy_sentry writes least-privilege policies; the rest are AWS's documented limits
(SOC2.md section 3).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from provisioning.substrate import names
from provisioning.substrate.errors import GrantError

# Principals, external ids, role names and managed policy ARNs are checked by the change-set
# generator's own functions (provisioning.substrate.names): one validation for the form and
# the generator, so that nothing the form accepts fails later at fulfilment.
# Resource ARNs for the policy generator: partition, service, region, account, resource. The
# resource part may hold any printable ASCII (S3 keys do); it ends up as a JSON string.
RESOURCE_ARN = re.compile(
    r"arn:aws(?:-us-gov|-cn)?:[a-z0-9-]+:[a-z0-9-]*:(?:\d{12}|aws)?:[\x21-\x7e]{1,1000}",
    re.ASCII,
)
# AWS limits (IAM quotas): inline role policies count every character; managed policies count
# characters other than white space.
INLINE_POLICY_MAX_CHARS = 10_240
MANAGED_POLICY_MAX_CHARS = 6_144

ADMIN_EQUIVALENT_MANAGED = {
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
    "arn:aws:iam::aws:policy/AWSOrganizationsFullAccess",
}
# Offered by the picker; any other managed policy ARN may be typed in.
COMMON_MANAGED_POLICIES = [
    ("arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnlyAccess: read everything"),
    ("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", "ViewOnlyAccess: list and describe"),
    ("arn:aws:iam::aws:policy/SecurityAudit", "SecurityAudit: read security configuration"),
    ("arn:aws:iam::aws:policy/job-function/Billing", "Billing: billing and cost"),
    ("arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess", "CloudWatchReadOnlyAccess: metrics"),
    ("arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess", "CloudTrail read-only"),
    ("arn:aws:iam::aws:policy/PowerUserAccess", "PowerUserAccess: everything but IAM (high risk)"),
    ("arn:aws:iam::aws:policy/AdministratorAccess", "AdministratorAccess (admin-equivalent)"),
]


class IamInputError(ValueError):
    """A value that IAM would refuse or that would be unsafe to grant."""


class PrincipalsError(IamInputError):
    """Every refused principal of a list; `problems` has one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def _checked(check: Any, *args: Any) -> Any:
    """`check(*args)` from provisioning.substrate.names, its GrantError as an IamInputError."""
    try:
        return check(*args)
    except GrantError as exc:
        raise IamInputError(exc.message[:1].upper() + exc.message[1:] + ".") from None


def parse_principals(text: str) -> list[str]:
    """Vendor principals, one per line or comma: 12-digit account ids (an account's root ARN
    is read as its id) or IAM role/user ARNs."""
    principals: list[str] = []
    problems: list[str] = []
    # Commas may separate entries, but role names may contain commas too: split on a comma only
    # where the next entry starts.
    for raw in re.split(r"\s+|,(?=\s*(?:arn:|\d{12}\b))", text.strip()):
        raw = raw.strip().rstrip(",") if raw else raw
        if not raw:
            continue
        # Every refused entry is named, not only the first: a pasted list is fixed in one go.
        if raw == "*" or "*" in raw or "?" in raw:
            problems.append(f"{raw!r}: a wildcard would let anyone assume the role.")
            continue
        if raw.isdigit() and len(raw) != 12:
            problems.append(f"{raw!r}: an AWS account id has exactly 12 digits.")
            continue
        try:
            principal = _checked(names.canonical_principal, raw)
        except IamInputError as exc:
            problems.append(str(exc))
            continue
        if principal not in principals:
            principals.append(principal)
    if problems:
        raise PrincipalsError(problems)
    return principals


def check_external_id(value: str) -> str:
    if not names.EXTERNAL_ID.fullmatch(value):
        raise IamInputError(
            "Use 2 to 1,224 characters: letters, digits and + = , . @ : / - _ (STS's rule)."
        )
    return str(_checked(names.external_id, value))


def check_role_name(value: str, strategy: str = "") -> str:
    """An IAM role name Substrate does not reserve; for the hub_role strategy, one that still
    fits IAM's limit once the hub role's suffix is added."""
    if not names.IAM_NAME.fullmatch(value):
        raise IamInputError("IAM role names are 1-64 letters, digits and + = , . @ - _.")
    _checked(names.role_name, value)
    if strategy == "hub_role":
        _checked(names.hub_role_name, value)
    return value


def check_resource_arns(values: list[str]) -> list[str]:
    """The generator's resource ARNs; policy_sentry fails with a bare exception on others."""
    for value in values:
        if not RESOURCE_ARN.fullmatch(value):
            raise IamInputError(
                f"{value!r} is not a resource ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)."
            )
    return values


def check_managed_policy_arns(values: list[str]) -> list[str]:
    """Managed policy ARNs that can be attached together to one role."""
    return list(_checked(names.policy_arns, list(values)))


@dataclass(frozen=True)
class Finding:
    """One lint finding, shown next to the policy; `error` findings block approval."""

    severity: str  # error | high | medium | low | info
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


_ELEMENTS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Principal",
    "NotPrincipal",
}
# parliament's community auditors carry no severity of their own.
_COMMUNITY_SEVERITY = {
    "PRIVILEGE_ESCALATION": "high",
    "PERMISSIONS_MANAGEMENT_ACTIONS": "medium",
    "CREDENTIALS_EXPOSURE": "medium",
}
_PARLIAMENT_ERRORS = {
    "MALFORMED_JSON",
    "MALFORMED",
    "INVALID_ARN",
    "INVALID_VERSION",
    "NO_VERSION",
    "UNKNOWN_PREFIX",
    # parliament rates a misspelt action "low", but IAM refuses a policy naming an action that
    # does not exist: the grant would fail at apply time, or (in a wildcard) grant nothing.
    "UNKNOWN_ACTION",
    "EXCEPTION",
}
# Findings parliament raises once per action: each names its own action, so that a policy with
# three misspelt actions shows three findings rather than one naming the first.
_PER_ACTION = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX"}
# Beyond this many, one more finding counts the rest (a pasted list of typos stays readable).
_PER_ACTION_MAX = 20


@functools.cache
def _iam_actions() -> dict[str, tuple[str, dict[str, str]]]:
    """IAM prefix -> (service name, lower-case action name -> action name), from parliament's
    IAM definition (the data its UNKNOWN_ACTION check reads). Some prefixes have several
    entries (services renamed or split): their actions are merged."""
    from parliament import iam_definition

    services: dict[str, tuple[str, dict[str, str]]] = {}
    for service in iam_definition:
        prefix = service["prefix"].lower()
        _name, actions = services.setdefault(prefix, (service["service_name"], {}))
        for privilege in service["privileges"]:
            actions[privilege["privilege"].lower()] = privilege["privilege"]
    return services


def is_known_action(action: str) -> bool:
    """Whether `action` (no wildcard) is one parliament's IAM definition lists."""
    prefix, _colon, name = action.partition(":")
    service = _iam_actions().get(prefix.lower())
    return service is not None and name.lower() in service[1]


def _unknown_action_message(issue: str, action: str) -> str:
    """Names the action that is not one and, when one is close, the likely intended one."""
    services = _iam_actions()
    prefix, _colon, name = action.partition(":")
    service = services.get(prefix.lower())
    if issue == "UNKNOWN_PREFIX" or service is None:
        close = difflib.get_close_matches(prefix.lower(), list(services), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}:{name}?" if close else "."
        return f"{action}: {prefix} is not an AWS service prefix{hint}"
    service_name, actions = service
    if "*" in name or "?" in name:
        return f"{action} matches no {service_name} action."
    close = difflib.get_close_matches(name.lower(), list(actions), n=1, cutoff=0.8)
    hint = f"; did you mean {prefix}:{actions[close[0]]}?" if close else "."
    article = "an" if service_name[:1].lower() in "aeiou" else "a"
    return f"{action} is not {article} {service_name} action{hint}"


def _finding_location(raw: Any) -> str:
    """The policy text a parliament finding points at (its action, for UNKNOWN_ACTION)."""
    location = getattr(raw, "location", None)
    if isinstance(location, dict):
        location = location.get("string")
    return location if isinstance(location, str) else ""


# The deepest nesting a permission policy needs: the document, its Statement array, a
# statement, Condition, an operator, a key and its list of values. Anything deeper is not a
# policy, and a deep enough one would exhaust the parser's (or the encoder's) stack.
POLICY_MAX_DEPTH = 8


def _json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (iterative: no recursion to exhaust)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > POLICY_MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _refuse_constant(name: str) -> Any:
    raise IamInputError(f"{name} is not a JSON value IAM accepts.")


def parse_policy_document(text: str) -> dict[str, Any]:
    """Parses and checks the IAM grammar of a permission policy; raises IamInputError."""
    too_deep = IamInputError(
        f"The policy is nested too deeply: a permission policy needs at most "
        f"{POLICY_MAX_DEPTH} levels of arrays and objects."
    )
    try:
        # NaN and Infinity are Python's extensions of JSON: IAM and the generator refuse them.
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise IamInputError(
            f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise too_deep from None
    if _json_depth(document) > POLICY_MAX_DEPTH:
        raise too_deep
    if not isinstance(document, dict):
        raise IamInputError("A policy is a JSON object with Version and Statement.")
    if document.get("Version") != "2012-10-17":
        raise IamInputError('Set "Version": "2012-10-17".')
    unknown = set(document) - {"Version", "Statement", "Id"}
    if unknown:
        raise IamInputError(f"Unknown top-level keys: {', '.join(sorted(unknown))}.")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise IamInputError("A policy needs at least one statement.")
    for index, statement in enumerate(statements, start=1):
        where = f"Statement {index}"
        if not isinstance(statement, dict):
            raise IamInputError(f"{where} is not an object.")
        extra = set(statement) - _ELEMENTS
        if extra:
            raise IamInputError(f"{where}: unknown keys {', '.join(sorted(extra))}.")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise IamInputError(f'{where}: Effect must be "Allow" or "Deny".')
        if ("Action" in statement) == ("NotAction" in statement):
            raise IamInputError(f"{where}: give exactly one of Action or NotAction.")
        if ("Resource" in statement) == ("NotResource" in statement):
            raise IamInputError(f"{where}: give exactly one of Resource or NotResource.")
        if "Principal" in statement or "NotPrincipal" in statement:
            raise IamInputError(f"{where}: a permission policy has no Principal.")
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            value = statement.get(key)
            if value is None:
                continue
            values = [value] if isinstance(value, str) else value
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                raise IamInputError(f"{where}: {key} must be a string or a list of strings.")
        if "Condition" in statement and not isinstance(statement["Condition"], dict):
            raise IamInputError(f"{where}: Condition must be an object.")
    # IAM reads a lone statement object as a list of one; the generator (and Substrate's
    # parser) take only the list, so the document is stored in that form.
    document["Statement"] = statements
    return dict(_checked(names.policy_document, document))


def policy_size(document: dict[str, Any]) -> int:
    """Characters IAM counts for a managed policy (no white space outside strings)."""
    return len(json.dumps(document, separators=(",", ":")))


def lint_policy(document: dict[str, Any]) -> list[Finding]:
    """Size limits and parliament's findings (with its community auditors), worst first."""
    from parliament import analyze_policy_string, enhance_finding

    findings: list[Finding] = []
    size = policy_size(document)
    if size > INLINE_POLICY_MAX_CHARS:
        findings.append(
            Finding(
                "error",
                "POLICY_TOO_LARGE",
                f"{size} characters: over IAM's limit of "
                f"{INLINE_POLICY_MAX_CHARS} for a role's inline policies.",
            )
        )
    elif size > MANAGED_POLICY_MAX_CHARS:
        findings.append(
            Finding(
                "medium",
                "POLICY_LARGE",
                f"{size} characters: too large to become a managed policy "
                f"({MANAGED_POLICY_MAX_CHARS}).",
            )
        )
    seen: set[tuple[str, str]] = set()
    named = 0
    unnamed: dict[str, int] = {}
    for raw in analyze_policy_string(
        json.dumps(document), include_community_auditors=True
    ).findings:
        try:
            finding = enhance_finding(raw)
            severity = (finding.severity or "").lower()
            title = finding.title or raw.issue
        except Exception:  # noqa: BLE001 - community auditors' issues are not in its config
            finding, title = raw, raw.issue.replace("_", " ").capitalize()
            severity = _COMMUNITY_SEVERITY.get(raw.issue, "medium")
        if raw.issue in _PARLIAMENT_ERRORS:
            severity = "error"
        detail = (
            finding.detail
            if isinstance(finding.detail, str)
            else json.dumps(finding.detail, default=str)[:300]
        )
        action = _finding_location(raw) if raw.issue in _PER_ACTION else ""
        key = (raw.issue, action or title)
        if key in seen:
            continue  # parliament repeats a finding once per matching action
        seen.add(key)
        if action and named >= _PER_ACTION_MAX:
            unnamed[raw.issue] = unnamed.get(raw.issue, 0) + 1
            continue
        if action:
            named += 1
            message = _unknown_action_message(raw.issue, action)
        elif detail and detail not in ("{}", "[]", "null"):
            message = f"{title}: {detail}"
        else:
            message = title
        findings.append(Finding(severity or "info", raw.issue, message))
    for issue, count in unnamed.items():
        what = "actions" if issue == "UNKNOWN_ACTION" else "service prefixes"
        findings.append(Finding("error", issue, f"{count} more unknown {what}."))
    order = {"error": 0, "critical": 1, "high": 2, "medium": 3, "low": 4, "info": 5}
    return sorted(findings, key=lambda f: order.get(f.severity, 9))


def admin_equivalent_reasons(managed_arns: list[str], document: dict[str, Any] | None) -> list[str]:
    """Why the permissions amount to administrator access (empty when they do not)."""
    reasons = [
        f"{arn.rsplit('/', 1)[-1]} is admin-equivalent"
        for arn in managed_arns
        if arn in ADMIN_EQUIVALENT_MANAGED
    ]
    for statement in (document or {}).get("Statement", []) if document else []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if "NotAction" in statement:
            reasons.append("NotAction with Allow grants everything not listed")
        for action in actions:
            lowered = action.lower()
            if lowered in ("*", "*:*"):
                reasons.append('Action "*" allows every action')
            elif lowered in ("iam:*", "iam:*role*", "iam:put*", "iam:attach*", "iam:create*"):
                reasons.append(f"{action} can grant itself any permission")
            elif lowered == "iam:passrole" and "*" in resources:
                reasons.append("iam:PassRole on * lets it act as any role")
            elif lowered == "sts:assumerole" and "*" in resources:
                reasons.append("sts:AssumeRole on * can reach any role that trusts it")
    return sorted(set(reasons))


GENERATOR_LEVELS = ("read", "write", "list", "tagging", "permissions-management")


def _arn_service(arn: str) -> str:
    return arn.split(":", 3)[2]


def _proposable(policy: dict[str, Any], service: str) -> dict[str, Any]:
    """`policy` with only the actions the portal can propose for `service`: of that service
    (policy_sentry adds other services' "dependent" actions, iam:PassRole on * among them,
    which is admin-equivalent), and known to the portal's linter (policy_sentry's action data
    is newer than parliament's, and the linter refuses an action it does not know). Statements
    left without an action go."""
    statements = []
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        kept = [a for a in actions if a.split(":")[0] == service and is_known_action(a)]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**policy, "Statement": statements}


def generate_least_privilege_policy(
    *, service: str, access_levels: list[str], resource_arns: list[str]
) -> dict[str, Any]:
    """A policy from policy_sentry's CRUD template: `service` actions at `access_levels` on
    `resource_arns` (or the service's wildcard-only actions when no ARN is given).

    The proposal passes the checks a typed-in policy meets (`parse_policy_document`, then
    `lint_policy` without an error) and is not admin-equivalent: the generator never proposes
    what the portal refuses or escalates."""
    from policy_sentry.command.write_policy import write_policy_with_template
    from policy_sentry.writing.template import get_crud_template_dict

    if not re.fullmatch(r"[a-z0-9-]{2,40}", service, re.ASCII):
        raise IamInputError("Name the AWS service by its IAM prefix, e.g. s3 or cloudwatch.")
    if service not in _iam_actions():
        close = difflib.get_close_matches(service, list(_iam_actions()), n=1, cutoff=0.75)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise IamInputError(f"{service} is not an AWS service prefix.{hint}")
    if not access_levels or not set(access_levels) <= set(GENERATOR_LEVELS):
        raise IamInputError(f"Choose access levels among: {', '.join(sorted(GENERATOR_LEVELS))}.")
    check_resource_arns(resource_arns)
    # policy_sentry reads the service from each ARN and ignores the one named: an s3 ARN
    # with "ec2" would propose S3 actions under an EC2 heading.
    others = [arn for arn in resource_arns if _arn_service(arn) != service]
    if others:
        raise IamInputError(
            f"{others[0]} is a resource of {_arn_service(others[0])}, not {service}: "
            f"give {service} ARNs, or name {_arn_service(others[0])} as the service."
        )
    # policy_sentry hands out its one module-level template: filled in place, it would carry
    # every earlier call's services and ARNs (another vendor's buckets) into this policy.
    template = copy.deepcopy(get_crud_template_dict())
    template["name"] = "VendorAccess"
    if resource_arns:
        for level in access_levels:
            template[level] = list(resource_arns)
    else:
        for level in access_levels:
            template["wildcard-only"][f"service-{level}"] = [service]
    try:
        policy = write_policy_with_template(template)
    except Exception:  # noqa: BLE001 - policy_sentry fails with bare exceptions (KeyError, ...)
        raise IamInputError(
            "policy_sentry cannot write a policy for these choices: check the service and ARNs."
        ) from None
    policy = _proposable(dict(policy), service)
    if not policy.get("Statement"):
        raise IamInputError("policy_sentry found no actions for these choices.")
    # The same checks as a policy typed in, so the proposal is one the portal accepts.
    document = parse_policy_document(json.dumps(policy))
    errors = [f.message for f in lint_policy(document) if f.severity == "error"]
    if errors:
        raise IamInputError(
            "The generated policy fails the policy checks (" + "; ".join(errors[:3]) + "): "
            "choose fewer access levels or resources, or write the policy."
        )
    # A least-privilege proposal is never administrator access; a vendor that needs it gets
    # a policy written for the purpose, which the risk assessment then treats as such.
    admin = admin_equivalent_reasons([], document)
    if admin:
        raise IamInputError(
            "The generated policy would be admin-equivalent (" + "; ".join(admin) + "): "
            "name resource ARNs, choose other access levels, or write the policy."
        )
    return document


RISK_LEVELS = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Risk:
    level: str
    reasons: tuple[str, ...]
    admin_equivalent: bool
    required_approvals: int


def assess_risk(
    *,
    strategy: str,
    admin_reasons: list[str],
    account_types: set[str],
    production: bool,
    vendor_tier: str,
    lint_high: bool,
    minimum_approvals: int = 1,
) -> Risk:
    """Risk from strategy, permissions, reached accounts and the vendor's tier (DESIGN.md §5)."""
    score = 0
    reasons: list[str] = []

    def raise_to(level: int, why: str) -> None:
        nonlocal score
        score = max(score, level)
        reasons.append(why)

    if strategy == "administrator":
        raise_to(3, "Administrator reuse grants admin in every account, management included")
    elif strategy == "iam_user":
        raise_to(2, "a long-lived access key leaves the organization")
    elif strategy == "auditor":
        raise_to(1, "Auditor reuse reads every account")
    if admin_reasons:
        raise_to(3, "admin-equivalent permissions: " + "; ".join(admin_reasons))
    if "management" in account_types:
        raise_to(3, "reaches the management account")
    if production:
        raise_to(min(score + 1, 3) if score else 1, "reaches production accounts")
    if vendor_tier == "critical":
        raise_to(min(score + 1, 3), "the vendor is a critical-tier subprocessor")
    if lint_high:
        raise_to(2, "the policy linter reports high-severity findings")
    admin_equivalent = bool(admin_reasons) or strategy == "administrator"
    quorum = 2 if admin_equivalent or strategy in ("administrator", "iam_user") else 1
    return Risk(
        RISK_LEVELS[score], tuple(reasons), admin_equivalent, max(quorum, minimum_approvals)
    )
