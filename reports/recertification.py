"""A re-certification campaign's result as evidence an auditor files: CSV and PDF.

Both hold the same facts: the campaign (who started it, when, the deadline, its progress),
then one line per grant with both parts' answers (who, when, note), the outcome and why it
came, and the audit trail's state when the file was made (its last event's sequence and hash,
and how to verify the chain). Cells are neutralised against spreadsheet formulas as in the
subprocessor report (`reports.cells`); the PDF is rendered by the binder's WeasyPrint helper
and fetches nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.models import AuditChainHead
from recertification.models import Campaign
from recertification.selectors import Item, campaign_items
from reports.cells import csv_cell
from reports.pdf import html_pdf

HEADERS = (
    "Request",
    "Vendor",
    "Strategy",
    "Accounts",
    "Last used in AWS",
    "Owner decision",
    "Owner",
    "Owner answered at",
    "Owner note",
    "Security decision",
    "Security member",
    "Security answered at",
    "Security note",
    "Outcome",
    "Decided at",
    "Closed by",
)
INTEGRITY_NOTE = (
    "Every answer, revocation and warning above is an event of the portal's append-only, "
    "hash-chained audit log. Verify the chain with `manage.py verify_audit_log`, or offline on "
    "an audit trail export (Reports, Audit trail) with `python reports/verify_export.py FILE`."
)
CLOSED_BY = {
    "both": "Both parts answered",
    "owner": "The owner's answer",
    "security": "Security's answer",
    "deadline": "The deadline passed",
    "revoked_elsewhere": "Revoked meanwhile by other means",
}


@dataclass(frozen=True)
class Evidence:
    """What both files show: the campaign's facts, its lines, and the audit trail's head."""

    campaign: Campaign
    facts: list[tuple[str, Any]]
    lines: list[tuple[Any, ...]]
    chain: str
    made_at: datetime


def _user(user: Any) -> str:
    return user.get_username() if user is not None else ""


def _line(item: Item) -> tuple[Any, ...]:
    c = item.certification
    grant = c.access_request
    return (
        f"#{grant.pk}",
        grant.vendor.name,
        grant.get_strategy_display(),
        item.accounts,
        item.last_used_at,
        c.get_owner_decision_display() if c.owner_decision else "",
        _user(c.owner_by),
        c.owner_at,
        c.owner_note,
        c.get_security_decision_display() if c.security_decision else "",
        _user(c.security_by),
        c.security_at,
        c.security_note,
        c.get_outcome_display(),
        c.decided_at,
        CLOSED_BY.get(c.closed_by, c.closed_by),
    )


def campaign_evidence(campaign: Campaign) -> Evidence:
    """The campaign's facts and every one of its items (the exports show all of them)."""
    items = campaign_items(campaign)
    decided = sum(1 for item in items if item.certification.outcome != "pending")
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    chain = (
        f"{head.sequence} events; last hash {head.hash}" if head is not None else "No events yet"
    )
    facts: list[tuple[str, Any]] = [
        ("Organization", settings.PORTAL_ORGANIZATION_NAME),
        ("Campaign", campaign.name),
        ("Kind", campaign.get_kind_display()),
        ("Vendor", campaign.vendor.name if campaign.vendor else "Every vendor"),
        ("Tier", campaign.vendor_tier or "Every tier"),
        ("Started by", _user(campaign.started_by) or "The review cadence (system)"),
        ("Started at", campaign.started_at),
        ("Deadline", campaign.deadline),
        ("Status", campaign.get_status_display()),
        ("Closed at", campaign.closed_at),
        ("Decided", f"{decided} of {len(items)}"),
        ("Audit trail", chain),
    ]
    return Evidence(
        campaign=campaign,
        facts=facts,
        lines=[_line(item) for item in items],
        chain=chain,
        made_at=timezone.now(),
    )


def campaign_csv(campaign: Campaign) -> str:
    """The header block (one fact a line), a blank line, then the table."""
    evidence = campaign_evidence(campaign)
    out = io.StringIO()
    writer = csv.writer(out)
    for label, value in [*evidence.facts, ("Exported at", evidence.made_at)]:
        writer.writerow([label, csv_cell(value)])
    writer.writerow(["Integrity", csv_cell(INTEGRITY_NOTE)])
    writer.writerow([])
    writer.writerow(HEADERS)
    for line in evidence.lines:
        writer.writerow([csv_cell(value) for value in line])
    return out.getvalue()


def _printed(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M}"
    return str(value)


def campaign_pdf(campaign: Campaign) -> bytes:
    """The same evidence as a PDF: the facts, the table, the integrity note."""
    evidence = campaign_evidence(campaign)
    return html_pdf(
        "recertification/campaign_pdf.html",
        {
            "campaign": campaign,
            "facts": [(label, _printed(value)) for label, value in evidence.facts],
            "headers": HEADERS,
            "lines": [tuple(_printed(value) for value in line) for line in evidence.lines],
            "integrity": INTEGRITY_NOTE,
            "made_at": _printed(evidence.made_at),
        },
    )
