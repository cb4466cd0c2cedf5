"""The AWS emulator playing the organization's accounts: a merged change applied to it, as
running the change's commands would apply it to AWS (the demo's truth path and the tests').

provisioning.aws refuses these writes unless AWS_ENDPOINT_URL is the local emulator; the
pages offer them only then (`emulator_available`).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from provisioning import aws
from provisioning.substrate.expected import (
    ExpectedAbsentRole,
    ExpectedRole,
    ExpectedState,
    ExpectedUser,
)

# expected_for lives in grants (the cut-off uses it too); kept importable from here.
from .grants import expected_for as expected_for


def emulator_available() -> bool:
    """True when AWS is the local emulator (`make run`, the tests), never on real AWS."""
    return aws.endpoint_is_emulator(settings.AWS_ENDPOINT_URL)


def _org_trust(account_id: str) -> dict[str, object]:
    """The trust a Substrate role starts from before a grant adds its statement."""
    return {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "sts:AssumeRole",
    }


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
                    trust_statements=[_org_trust(item.account_id), *item.trust_statements],
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
