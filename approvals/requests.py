"""Access request services: drafts, submission, withdrawal, duplication, checks and preview.

Each service owns its transaction and writes the audit event. Approval itself (quorum, MFA,
concurrency) is the approval feature's; this module computes what it needs: lint findings,
risk, the number of approvals required and what still blocks approval.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import iam, rules
from approvals.models import (
    FINAL_STATES,
    LIVE_STATES,
    PENDING_STATES,
    STRATEGY_FIELDS,
    AccessRequest,
    Strategy,
)
from approvals.workflow import snapshot, transition
from audit.services import audit_record
from inventory.models import AwsAccount
from inventory.services import accounts_matching
from provisioning.checkout import RepositoryUnavailable, default_branch_checkout
from provisioning.forge_settings import mirrored_default_branch
from provisioning.repo_url import RepoUrlError, local_repo_path
from provisioning.substrate import Grant, Options, SubstrateError, TargetAccount, generate_changeset
from provisioning.substrate import Strategy as GrantStrategy
from vendors.models import Vendor
from vendors.selectors import ReviewState, vendor_review_state

Status = AccessRequest.Status
ACCOUNT_STRATEGIES = {s for s, fields in STRATEGY_FIELDS.items() if "accounts" in fields}


def new_external_id() -> str:
    """A long random external id (AWS: unique per relationship and not guessable)."""
    return secrets.token_urlsafe(32)


def default_role_name(vendor: Vendor) -> str:
    return "".join(part.capitalize() for part in vendor.slug.split("-"))[:56] + "Access"


SELECTION_LABELS = {
    "domains": (_("domain"), _("domains")),
    "environments": (_("environment"), _("environments")),
    "qualities": (_("quality"), _("qualities")),
}


def selection_problem(field: str, values: list[str]) -> str | None:
    """Why a domain/environment/quality selection is refused, or None. Nothing ticked is not
    "every account" (a forgotten box would otherwise reach production), and "All" with some
    values is ambiguous: either everything or those values, never a silent guess."""
    one, many = SELECTION_LABELS[field]
    cleaned = [v.strip() for v in values if v and v.strip()]
    if not cleaned:
        return _("Choose the accounts: tick All or at least one %(one)s.") % {"one": one}
    if "*" in cleaned and len(set(cleaned)) > 1:
        return _("All already means every %(one)s: untick All to choose only some %(many)s.") % {
            "one": one,
            "many": many,
        }
    return None


def _selected(values: list[str]) -> list[str]:
    """A selection list that `selection_problem` accepted: ["*"] or the values, sorted."""
    cleaned = [v.strip() for v in values if v and v.strip()]
    return ["*"] if "*" in cleaned else sorted(set(cleaned))


def target_accounts(access_request: AccessRequest) -> Any:
    """The active service accounts the request's selection matches."""
    if access_request.strategy not in ACCOUNT_STRATEGIES:
        return AwsAccount.objects.none()
    return accounts_matching(
        domains=access_request.target_domains,
        environments=access_request.target_environments,
        qualities=access_request.target_qualities,
    )


def _apply(access_request: AccessRequest, data: dict[str, Any]) -> None:
    """Copies the form's fields that the strategy uses; raises ValidationError by field."""
    errors: dict[str, list[str]] = {}
    strategy = data["strategy"]
    uses = STRATEGY_FIELDS[strategy]
    access_request.vendor = data["vendor"]
    access_request.strategy = strategy
    access_request.justification = data.get("justification", "").strip()
    access_request.expires_on = data.get("expires_on")

    access_request.principals = []
    access_request.external_id = ""
    if "principals" in uses:
        try:
            access_request.principals = iam.parse_principals(data.get("principals", ""))
        except iam.IamInputError as exc:
            # Every refused principal, not only the first (parse_principals collects them).
            errors.setdefault("principals", []).extend(getattr(exc, "problems", [str(exc)]))
        external_id = (data.get("external_id") or "").strip() or new_external_id()
        try:
            access_request.external_id = iam.check_external_id(external_id)
        except iam.IamInputError as exc:
            errors.setdefault("external_id", []).append(str(exc))
        else:
            reused = (
                AccessRequest.objects.filter(external_id=external_id)
                .exclude(vendor=access_request.vendor)
                .exists()
            )
            if reused:
                errors.setdefault("external_id", []).append(
                    _(
                        "This external id belongs to another vendor's grant: each relationship "
                        "needs its own."
                    )
                )

    access_request.target_domains = access_request.target_environments = []
    access_request.target_qualities = []
    if "accounts" in uses:
        for field in ("domains", "environments", "qualities"):
            values = list(data.get(field) or [])
            problem = selection_problem(field, values)
            if problem:
                errors.setdefault(field, []).append(problem)
            setattr(access_request, f"target_{field}", _selected(values))

    access_request.role_name = ""
    if "role_name" in uses:
        role_name = (data.get("role_name") or "").strip() or default_role_name(data["vendor"])
        try:
            access_request.role_name = iam.check_role_name(role_name, strategy)
        except iam.IamInputError as exc:
            errors.setdefault("role_name", []).append(str(exc))
        else:
            _check_role_name_free(access_request, errors)

    access_request.policy_source = ""
    access_request.managed_policy_arns = []
    access_request.inline_policy = None
    access_request.generator_input = None
    if "permissions" in uses:
        _apply_permissions(access_request, data, errors)
    if errors:
        raise ValidationError(errors)


# A request in these states holds its role name: it is waiting for a decision, on its way to
# the repository, or granted. Drafts hold nothing yet.
ROLE_HOLDING_STATES = (
    AccessRequest.Status.SUBMITTED,
    AccessRequest.Status.APPROVED,
    AccessRequest.Status.PROVISIONING,
    AccessRequest.Status.PR_OPEN,
    AccessRequest.Status.ACTIVE,
    AccessRequest.Status.EXPIRING,
    AccessRequest.Status.FAILED,
)


def _check_role_name_free(access_request: AccessRequest, errors: dict[str, list[str]]) -> None:
    """One role name, one grant: two grants creating the same role (IAM names ignore case)
    would each overwrite the other's trust policy, e.g. a vendor's IAM-user grant and its role
    grant, which both default to the name from the vendor's slug."""
    holder = (
        AccessRequest.objects.filter(
            role_name__iexact=access_request.role_name, status__in=ROLE_HOLDING_STATES
        )
        .exclude(pk=access_request.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if holder is not None:
        errors.setdefault("role_name", []).append(
            _("Request #%(n)s already uses the role name %(name)s: choose another.")
            % {"n": holder, "name": access_request.role_name}
        )


def _apply_permissions(
    access_request: AccessRequest, data: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    source = data.get("policy_source") or AccessRequest.PolicySource.MANAGED
    access_request.policy_source = source
    try:
        if source == AccessRequest.PolicySource.MANAGED:
            access_request.managed_policy_arns = iam.check_managed_policy_arns(
                sorted(set(data.get("managed_policy_arns") or []))
            )
        elif source == AccessRequest.PolicySource.INLINE:
            text = (data.get("inline_policy") or "").strip()
            if text:
                access_request.inline_policy = iam.parse_policy_document(text)
        else:
            arns = [a for a in re.split(r"[\s,]+", data.get("generator_resources") or "") if a]
            generator_input: dict[str, Any] = {
                "service": (data.get("generator_service") or "").strip().lower(),
                "access_levels": list(data.get("generator_levels") or []),
                "resource_arns": arns,
            }
            access_request.generator_input = generator_input
            try:
                iam.check_resource_arns(arns)
            except iam.IamInputError as exc:
                errors.setdefault("generator_resources", []).append(str(exc))
                return
            if generator_input["service"]:
                access_request.inline_policy = iam.generate_least_privilege_policy(
                    **generator_input
                )
    except iam.IamInputError as exc:
        field = {"managed": "managed_policy_arns", "inline": "inline_policy"}.get(
            source, "generator_service"
        )
        errors.setdefault(field, []).append(str(exc))


def _evaluate(access_request: AccessRequest) -> list[AwsAccount]:
    """Lint, risk, quorum and the change preview; returns the matched accounts."""
    accounts = list(target_accounts(access_request))
    findings = iam.lint_policy(access_request.inline_policy) if access_request.inline_policy else []
    access_request.lint_findings = [f.as_dict() for f in findings]
    admin_reasons = iam.admin_equivalent_reasons(
        access_request.managed_policy_arns, access_request.inline_policy
    )
    account_types = {a.account_type for a in accounts}
    if access_request.strategy == Strategy.ADMINISTRATOR:
        account_types.add("management")  # Administrator exists in the management account too
    risk = iam.assess_risk(
        strategy=access_request.strategy,
        admin_reasons=admin_reasons,
        account_types=account_types,
        production=any(a.is_production for a in accounts)
        or access_request.strategy in (Strategy.AUDITOR, Strategy.ADMINISTRATOR),
        vendor_tier=access_request.vendor.effective_tier,
        lint_high=any(f.severity in ("high", "critical") for f in findings),
        minimum_approvals=settings.PORTAL_MIN_APPROVALS,
    )
    access_request.risk_level = risk.level
    access_request.risk_reasons = list(risk.reasons)
    access_request.admin_equivalent = risk.admin_equivalent
    access_request.required_approvals = risk.required_approvals
    # What the approval rules match: the accounts picked, or for the strategies that reach
    # every account (Auditor, Administrator), every active one.
    reached = (
        accounts
        if access_request.strategy in ACCOUNT_STRATEGIES
        else accounts_matching(domains=[], environments=[], qualities=[], include_special=True)
    )
    access_request.reaches = rules.reaches_of_accounts(reached)
    return accounts


def _check_expiry(expires_on: date | None, *, required: bool) -> None:
    if expires_on is None:
        if required:
            raise ValidationError({"expires_on": _("Every grant needs an end date.")})
        return
    today = timezone.localdate()
    cap = today + timedelta(days=settings.PORTAL_MAX_GRANT_DAYS)
    if expires_on <= today:
        raise ValidationError({"expires_on": _("The end date must be in the future.")})
    if expires_on > cap:
        raise ValidationError(
            {
                "expires_on": _(
                    "Grants last at most %(days)s days: choose %(cap)s or earlier; extend it later."
                )
                % {"days": settings.PORTAL_MAX_GRANT_DAYS, "cap": cap.isoformat()}
            }
        )


@transaction.atomic
def request_save(
    *, actor: Any, data: dict[str, Any], request_id: int | None = None
) -> AccessRequest:
    """Creates or updates a draft; checks formats now and completeness at submission."""
    if request_id is None:
        access_request = AccessRequest(requester=actor)
        before = None
    else:
        access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
        if access_request.requester_id != actor.pk:
            raise PermissionDenied(_("Only the requester can change a request."))
        if access_request.status != Status.DRAFT:
            raise ValidationError(_("Only a draft can be changed; withdraw and duplicate it."))
        before = snapshot(access_request)
    if data["vendor"].status != Vendor.Status.ACTIVE:
        raise ValidationError({"vendor": _("This vendor is offboarded.")})
    errors = _apply_and_check(access_request, data)
    if errors:
        raise ValidationError(errors)
    _evaluate(access_request)
    access_request.save()
    access_request.target_accounts.set(target_accounts(access_request))
    access_request.preview = compute_preview(access_request)
    access_request.save(update_fields=["preview"])
    audit_record(
        actor=actor,
        action="request.update" if before else "request.create",
        obj=access_request,
        before=before,
        after=snapshot(access_request),
    )
    return access_request


def _apply_and_check(access_request: AccessRequest, data: dict[str, Any]) -> dict[str, list[str]]:
    """`_apply` and the end date's check, every problem of both by field (not only the first
    one's)."""
    errors: dict[str, list[str]] = {}
    for check in (
        lambda: _apply(access_request, data),
        lambda: _check_expiry(access_request.expires_on, required=False),
    ):
        try:
            check()
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    return errors


def draft_problems(data: dict[str, Any]) -> dict[str, list[str]]:
    """What `request_save` would refuse in the form's data, by field, without saving: the
    form shows these next to its own errors, all at once. `data` must hold a vendor and a
    strategy."""
    return _apply_and_check(AccessRequest(), data)


def submission_problems(access_request: AccessRequest) -> dict[str, list[str]]:
    """What a draft still lacks before it can be submitted, by form field."""
    problems: dict[str, list[str]] = {}
    uses = STRATEGY_FIELDS[access_request.strategy]

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if "principals" in uses and not access_request.principals:
        add("principals", _("Name the vendor's AWS account id or role ARN."))
    if "accounts" in uses and not access_request.target_accounts.exists():
        add("domains", _("The selection matches no active account."))
    if "permissions" in uses and not (
        access_request.managed_policy_arns or access_request.inline_policy
    ):
        add("managed_policy_arns", _("Choose the permissions the vendor gets."))
    if not access_request.justification:
        add("justification", _("Say why the vendor needs this access."))
    if access_request.expires_on is None:
        add("expires_on", _("Every grant needs an end date."))
    return problems


@transaction.atomic
def request_submit(*, request_id: int, actor: Any) -> AccessRequest:
    """Submits a complete draft for the security team's approval."""
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    if access_request.requester_id != actor.pk:
        raise PermissionDenied(_("Only the requester can submit a request."))
    problems = submission_problems(access_request)
    if problems:
        raise ValidationError(problems)
    if access_request.role_name:  # taken since the draft was saved?
        taken: dict[str, list[str]] = {}
        _check_role_name_free(access_request, taken)
        if taken:
            raise ValidationError(taken)
    _check_expiry(access_request.expires_on, required=True)
    _evaluate(access_request)
    access_request.target_accounts.set(target_accounts(access_request))
    access_request.submitted_at = timezone.now()
    access_request.save(
        update_fields=[
            "lint_findings",
            "risk_level",
            "risk_reasons",
            "admin_equivalent",
            "required_approvals",
            "reaches",
        ]
    )
    transition(
        access_request,
        to=Status.SUBMITTED,
        actor=actor,
        action="request.submit",
        extra_fields=("submitted_at",),
        detail={
            "risk_level": access_request.risk_level,
            "required_approvals": access_request.required_approvals,
            "accounts": access_request.target_accounts.count(),
        },
    )
    return access_request


@transaction.atomic
def request_withdraw(*, request_id: int, actor: Any) -> AccessRequest:
    """The requester takes back a request that is still pending."""
    access_request = AccessRequest.objects.select_for_update().get(pk=request_id)
    if access_request.requester_id != actor.pk:
        raise PermissionDenied(_("Only the requester can withdraw a request."))
    if access_request.status not in PENDING_STATES:
        raise ValidationError(
            _("Only a pending request can be withdrawn; ask security to revoke an approved one.")
        )
    transition(access_request, to=Status.WITHDRAWN, actor=actor, action="request.withdraw")
    return access_request


@transaction.atomic
def request_duplicate(*, request_id: int, actor: Any) -> AccessRequest:
    """A new draft with the same choices (and a fresh external id), owned by `actor`."""
    source = AccessRequest.objects.get(pk=request_id)
    copy = AccessRequest(
        vendor=source.vendor,
        requester=actor,
        strategy=source.strategy,
        principals=list(source.principals),
        external_id=new_external_id() if source.external_id else "",
        target_domains=list(source.target_domains),
        target_environments=list(source.target_environments),
        target_qualities=list(source.target_qualities),
        role_name=source.role_name,
        policy_source=source.policy_source,
        managed_policy_arns=list(source.managed_policy_arns),
        inline_policy=source.inline_policy,
        generator_input=source.generator_input,
        justification=source.justification,
        expires_on=None,
        duplicated_from=source,
    )
    _evaluate(copy)
    copy.save()
    copy.target_accounts.set(target_accounts(copy))
    copy.preview = compute_preview(copy)
    copy.save(update_fields=["preview"])
    audit_record(
        actor=actor,
        action="request.duplicate",
        obj=copy,
        after={**snapshot(copy), "duplicated_from": source.pk},
    )
    return copy


def _fails_lint_now(access_request: AccessRequest) -> bool:
    """Whether the policy fails today's lint. The findings are stored when the request is
    saved, and the linter's rules change (issue 20 made a misspelt action an error, where it
    was "low"): a request saved before must not be approved on the strength of findings the
    portal would no longer give. A lint takes milliseconds."""
    policy = access_request.inline_policy
    return policy is not None and any(f.severity == "error" for f in iam.lint_policy(policy))


def approval_blockers(
    access_request: AccessRequest, *, review_state: str | None = None
) -> list[str]:
    """Why the request cannot be approved yet (shown on the form and the request page).

    `review_state` is the vendor's, when the caller has already read it (pages show it too).
    """
    blockers = []
    state = review_state or vendor_review_state(access_request.vendor_id)
    if state not in ReviewState.APPROVABLE:
        blockers.append(
            _("The vendor has no current approved SOC 2 review (%(state)s).")
            % {"state": ReviewState.LABELS[state]}
        )
    if access_request.has_lint_errors or _fails_lint_now(access_request):
        blockers.append(_("The policy has lint errors."))
    if access_request.expires_on is None:
        blockers.append(_("No end date is set."))
    return blockers


def grant_warnings(access_request: AccessRequest) -> list[dict[str, str]]:
    """Warnings, shaped as lint findings, that do not block approval: the vendor's other live
    grants of the same strategy (issue 20). Two grants of one strategy for one vendor are
    usually a forgotten grant or a duplicate, but may be meant (two roles, two account sets),
    so the approver is told and decides. Read when the page is shown, not when the request
    was saved: the other grant may have gone live since."""
    if access_request.pk is None or access_request.status in FINAL_STATES:
        return []
    others = (
        AccessRequest.objects.filter(
            vendor_id=access_request.vendor_id,
            strategy=access_request.strategy,
            status__in=LIVE_STATES,
        )
        .exclude(pk=access_request.pk)
        .order_by("pk")
        .values_list("pk", "status")
    )
    labels = dict(AccessRequest.Status.choices)
    return [
        {
            "severity": "medium",
            "code": "DUPLICATE_LIVE_GRANT",
            "message": _(
                "Request #%(n)s (%(status)s) already grants %(vendor)s the same strategy: "
                "%(strategy)s. A second live grant of one strategy is usually a duplicate: "
                "revoke one, or say in the justification why both are needed."
            )
            % {
                "n": pk,
                "vendor": access_request.vendor.name,
                "strategy": access_request.get_strategy_display(),
                "status": labels[status],
            },
        }
        for pk, status in others
    ]


def grant_for(access_request: AccessRequest) -> Any:
    """The generator's `Grant` for the request (ValueError when the request cannot be one)."""
    accounts = (
        tuple(
            TargetAccount(
                id=a.account_id, domain=a.domain, environment=a.environment, quality=a.quality
            )
            for a in access_request.target_accounts.all()
        )
        if access_request.strategy in ACCOUNT_STRATEGIES
        else ()
    )
    return Grant(
        vendor=access_request.vendor.slug,
        strategy=GrantStrategy(access_request.strategy),
        role_name=access_request.role_name or default_role_name(access_request.vendor),
        principals=tuple(access_request.principals),
        external_id=access_request.external_id or None,
        accounts=accounts,
        managed_policy_arns=tuple(access_request.managed_policy_arns),
        inline_policy=access_request.inline_policy,
        request_id=f"REQ-{access_request.pk}",
    )


def generator_options() -> Any:
    """The generator's overrides from settings: SUBSTRATE_VERSION, when set, is the
    organization's release, for repositories that do not record one (and wins over the
    repository's, as Options documents)."""
    return Options(substrate_version=settings.SUBSTRATE_VERSION or None)


def compute_preview(access_request: AccessRequest) -> dict[str, Any]:
    """The files and commands the generator would produce now, or why it cannot say."""
    url = settings.SUBSTRATE_REPO_URL
    try:
        grant = grant_for(access_request)
        # A local repository is read in place; a remote one through the workers' cached
        # mirror, fetched now (the preview must show the change against today's tree).
        checkout = (
            default_branch_checkout(url, settings.SUBSTRATE_DEFAULT_BRANCH)
            if local_repo_path(url) is not None
            else mirrored_default_branch()
        )
        with checkout as (folder, commit):
            changeset = generate_changeset(folder, grant, generator_options())
    except (RepositoryUnavailable, RepoUrlError) as exc:
        return {
            "error": _("No preview: the Substrate repository is not readable here (%(e)s)")
            % {"e": exc}
        }
    except (SubstrateError, ValueError) as exc:
        return {"error": _("The change cannot be generated: %(e)s") % {"e": exc}}
    return {
        "commit": commit,
        "files": [
            {"action": f.action.value, "path": f.path, "content": f.content}
            for f in changeset.files
        ],
        "commands": [c.shell for c in changeset.commands],
        "warnings": list(changeset.warnings),
    }


def request_url(access_request_id: int) -> str:
    """The absolute address of the request page, for links in notices, pull
    requests and commit statuses."""
    path = reverse("approvals:request_detail", kwargs={"pk": access_request_id})
    return settings.PORTAL_BASE_URL.rstrip("/") + path
