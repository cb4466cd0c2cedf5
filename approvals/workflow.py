"""The single place where an access request's status changes (STYLE.md examples 2 and 3)."""

from __future__ import annotations

from typing import Any

from accessportal import lifecycle
from approvals.models import LIFECYCLE, AccessRequest
from audit.services import audit_record, audit_snapshot


def transition(
    access_request: AccessRequest,
    *,
    to: str,
    actor: Any,
    action: str,
    extra_fields: tuple[str, ...] = (),
    detail: dict[str, Any] | None = None,
    comment: str = "",
) -> None:
    """Moves a locked request to `to` if the state machine allows it, audits the move, and
    schedules the move's effects from the table (`approvals.models.EFFECTS`: tasks, and
    notices that carry `comment` and name the actor).

    The caller holds the row lock (select_for_update) inside its transaction and has already
    set any `extra_fields` that change with the status.
    """

    def audited(before: str, after: str) -> None:
        audit_record(
            actor=actor,
            action=action,
            obj=access_request,
            before={"status": before},
            after={"status": after, **(detail or {})},
        )

    lifecycle.transition(
        access_request,
        LIFECYCLE,
        to=to,
        extra_fields=extra_fields,
        on_change=audited,
        actor_id=getattr(actor, "pk", None),
        comment=comment,
    )


def snapshot(access_request: AccessRequest) -> dict[str, Any]:
    return audit_snapshot(
        access_request,
        [
            "vendor",
            "strategy",
            "status",
            "principals",
            "external_id",
            "target_domains",
            "target_environments",
            "target_qualities",
            "role_name",
            "policy_source",
            "managed_policy_arns",
            "inline_policy",
            "justification",
            "expires_on",
            "risk_level",
            "admin_equivalent",
            "required_approvals",
        ],
    )
