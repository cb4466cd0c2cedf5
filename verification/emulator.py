"""The AWS emulator playing the organization's accounts: a merged change applied to it, as
running the change's commands would apply it to AWS (the demo's truth path and the tests').

provisioning.aws refuses these writes unless AWS_ENDPOINT_URL is the local emulator; the
pages offer them only then (`emulator_available`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from accessportal.effects import enqueue_on_commit
from accessportal.roles import require_verified_security
from approvals.models import AccessRequest, Status
from audit.services import audit_record
from provisioning import aws
from provisioning.substrate.expected import (
    ExpectedAbsentRole,
    ExpectedRole,
    ExpectedState,
    ExpectedUser,
)
from provisioning.substrate.policies import principal_trust_statement

# expected_for lives in grants (the cut-off uses it too); kept importable from here.
from .grants import MERGED_STATES
from .grants import expected_for as expected_for

GRANT_VERIFY_TASK = "verification.tasks.grant_verify_task"
# A principal outside the organization that no approval names: the demo's hand-made drift.
DEMO_OUTSIDE_PRINCIPAL = "arn:aws:iam::444455556666:root"


def emulator_available() -> bool:
    """True when AWS is the local emulator (`make run`, the tests), never on real AWS."""
    return aws.endpoint_is_emulator(settings.AWS_ENDPOINT_URL)


def emulator_apply(expected: ExpectedState) -> int:
    """Puts the grant's IAM into the emulated accounts; returns how many items it wrote."""
    if not emulator_available():
        raise ValueError(_("Only the local AWS emulator can be changed from the portal."))
    for item in expected.items:
        if isinstance(item, ExpectedRole) and item.shared:
            if not aws.emulator_trust_edit(item.account_id, item.name, add=item.trust_statements):
                aws.emulator_role_put(
                    item.account_id,
                    item.name,
                    # The trust a Substrate role starts from before a grant adds its statement.
                    trust_statements=[
                        principal_trust_statement(f"arn:aws:iam::{item.account_id}:root"),
                        *item.trust_statements,
                    ],
                )
        elif isinstance(item, ExpectedRole):
            aws.emulator_role_put(
                item.account_id,
                item.name,
                trust_statements=item.trust_statements,
                attached_policy_arns=item.attached_policy_arns,
                inline_policies=item.inline_policies,
            )
        elif isinstance(item, ExpectedUser):
            aws.emulator_user_put(item.account_id, item.name, inline_policies=item.inline_policies)
        elif isinstance(item, ExpectedAbsentRole):
            aws.emulator_role_delete(item.account_id, item.name)
    return len(expected.items)


def emulator_remove(expected: ExpectedState) -> int:
    """Takes the grant's IAM out of the emulated accounts, as the removal's commands would."""
    if not emulator_available():
        raise ValueError(_("Only the local AWS emulator can be changed from the portal."))
    for item in expected.items:
        if isinstance(item, ExpectedRole) and item.shared:
            aws.emulator_trust_edit(item.account_id, item.name, remove=item.trust_statements)
        elif isinstance(item, ExpectedRole):
            aws.emulator_role_delete(item.account_id, item.name)
        elif isinstance(item, ExpectedUser):
            aws.emulator_user_delete(item.account_id, item.name)
    return len(expected.items)


def emulator_trust_add_outsider(expected: ExpectedState) -> int:
    """Adds an outside principal to the trust of the grant's first role, as a hand edit in
    the console would: the demo's drift. Returns 1, or 0 when AWS holds no such role."""
    if not emulator_available():
        raise ValueError(_("Only the local AWS emulator can be changed from the portal."))
    for item in expected.items:
        if isinstance(item, ExpectedRole):
            return int(
                aws.emulator_trust_edit(
                    item.account_id,
                    item.name,
                    add=[principal_trust_statement(DEMO_OUTSIDE_PRINCIPAL)],
                )
            )
    raise ValueError(_("This grant has no role whose trust could be edited."))


# action -> (what the request must be, the change)
EMULATOR_ACTIONS = ("apply", "trust_edit", "remove")


def emulator_action(
    *, actor: Any, mfa_verified: bool, access_request: AccessRequest, action: str
) -> int:
    """One demo operator action on the emulated accounts, audited as `emulator.<action>`,
    then a verification queued so the request page shows what AWS now holds. Security only,
    with a second factor, and never against real AWS (ValueError)."""
    require_verified_security(
        actor,
        mfa_verified=mfa_verified,
        refusal=_("Only the security team changes the emulated accounts."),
    )
    if action not in EMULATOR_ACTIONS:
        raise ValueError(_("Unknown emulator action."))
    if not emulator_available():
        raise ValueError(_("Only the local AWS emulator can be changed from the portal."))
    if action == "remove":
        if access_request.status != Status.REVOKED:
            raise ValueError(_("Only a revoked grant's removal can be applied."))
    elif access_request.status not in MERGED_STATES:
        raise ValueError(_("Only a merged, live grant can be applied or edited."))
    expected = expected_for(access_request)
    with transaction.atomic():
        if action == "apply":
            written = emulator_apply(expected)
        elif action == "trust_edit":
            written = emulator_trust_add_outsider(expected)
        else:
            written = emulator_remove(expected)
        audit_record(
            actor=actor,
            action=f"emulator.{action}",
            obj=access_request,
            after={"items": written, "accounts": list(expected.accounts())},
        )
        enqueue_on_commit(GRANT_VERIFY_TASK, access_request.pk, "emulator")
    return written
