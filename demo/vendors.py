"""Demo vendors for `make run`: ten realistic SaaS vendors in every review state.

Everything goes through the services (so the audit log has the story), except that some
decisions are moved back in time afterwards to show overdue and stale reviews.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from vendors import services
from vendors.models import ChecklistAnswer, SubprocessorReview, Vendor


@dataclass(frozen=True)
class DemoVendor:
    name: str
    slug: str
    service: str
    purpose: str
    data_sensitivity: str
    access_level: str
    criticality: str
    categories: list[str]
    state: str  # none | draft | submitted | current | due_soon | overdue | stale | conditional
    contact: tuple[str, str] = ("", "")
    extra: dict[str, object] = field(default_factory=dict)


DEMO_VENDORS = [
    DemoVendor(
        "Orbit CI",
        "orbit-ci",
        "Hosted CI/CD pipelines",
        "Builds and deploys our services from source.",
        "confidential",
        "admin",
        "high",
        ["source_code", "secrets", "infrastructure"],
        "current",
        ("Priya Nair", "security@orbit-ci.example"),
    ),
    DemoVendor(
        "Lumen Metrics",
        "lumen-metrics",
        "Infrastructure monitoring",
        "Reads CloudWatch metrics and tags in every account.",
        "internal",
        "read",
        "medium",
        ["logs"],
        "due_soon",
        ("Tom Berg", "trust@lumen.example"),
    ),
    DemoVendor(
        "Sentinel Scan",
        "sentinel-scan",
        "Cloud security posture scanner",
        "Scans account configuration for misconfigurations.",
        "confidential",
        "read",
        "medium",
        ["infrastructure"],
        "conditional",
        ("Ana Ruiz", "soc@sentinel.example"),
    ),
    DemoVendor(
        "Tally Cost",
        "tally-cost",
        "Cloud cost reporting",
        "Reads billing data and resource inventory.",
        "internal",
        "read",
        "low",
        ["financial"],
        "overdue",
        ("Lee Park", "privacy@tally.example"),
    ),
    DemoVendor(
        "Beacon Logs",
        "beacon-logs",
        "Log management",
        "Receives application logs, which may contain customer identifiers.",
        "customer",
        "none",
        "high",
        ["logs", "personal_data"],
        "stale",
        ("Mo Haddad", "dpo@beacon.example"),
    ),
    DemoVendor(
        "Atlas Deploy",
        "atlas-deploy",
        "Deployment orchestration",
        "Applies Terraform plans in service accounts.",
        "confidential",
        "write",
        "high",
        ["infrastructure"],
        "submitted",
        ("Jo Smith", "security@atlas.example"),
    ),
    DemoVendor(
        "Keystone Secrets",
        "keystone-secrets",
        "Secrets synchronisation",
        "Syncs secrets into AWS Secrets Manager.",
        "confidential",
        "write",
        "high",
        ["secrets"],
        "draft",
    ),
    DemoVendor(
        "Relay Alerts",
        "relay-alerts",
        "Incident paging",
        "Pages the on-call engineer from CloudWatch alarms.",
        "internal",
        "none",
        "high",
        ["logs"],
        "current",
        ("Kim Chu", "trust@relay.example"),
    ),
    DemoVendor(
        "Ledger Billing",
        "ledger-billing",
        "Billing analytics",
        "Receives invoices and usage totals.",
        "internal",
        "none",
        "low",
        ["financial"],
        "none",
    ),
    DemoVendor(
        "Prism Backup",
        "prism-backup",
        "Cross-account backup",
        "Copies EBS snapshots into its vault account.",
        "customer",
        "write",
        "high",
        ["customer_data"],
        "current",
        ("Eva Stone", "security@prism.example"),
    ),
]


def _answer_all(
    review: SubprocessorReview, *, blocker_no: bool = False
) -> dict[int, tuple[str, str]]:
    answers: dict[int, tuple[str, str]] = {}
    for answer in review.answers.all():
        value = ChecklistAnswer.Answer.YES
        if answer.item_code == "B15":
            value = ChecklistAnswer.Answer.NOT_APPLICABLE
        if blocker_no and answer.item_code == "C17":  # blocking for critical and high
            value = ChecklistAnswer.Answer.NO
        answers[answer.pk] = (value, "Checked in the demo data.")
    return answers


def _fill_and_submit(
    review: SubprocessorReview, author: object, *, period_end: date, blocker_no: bool = False
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    report = {
        "report_type": SubprocessorReview.ReportType.SOC2_TYPE2,
        "scope_covers_service": True,
        "trust_services_categories": ["security", "availability", "confidentiality"],
        "period_start": period_end - timedelta(days=365),
        "period_end": period_end,
        "report_issued_on": period_end + timedelta(days=45),
        "auditor_firm": "Example & Partners LLP",
        "opinion": SubprocessorReview.Opinion.UNQUALIFIED,
        "residual_risk": "low",
    }
    services.review_update(
        review_id=review.pk,
        actor=author,
        report=report,
        answers=_answer_all(review, blocker_no=blocker_no),
    )
    for answer in review.answers.filter(evidence_required=True):
        pdf = SimpleUploadedFile(
            f"{answer.item_code}-{review.vendor.slug}.pdf",
            b"%PDF-1.4\n% demo evidence\n",
            content_type="application/pdf",
        )
        services.evidence_add(review_id=review.pk, actor=author, upload=pdf, answer_id=answer.pk)
    services.review_submit(review_id=review.pk, actor=author)


@transaction.atomic
def seed_demo_vendors() -> int:
    """Creates the demo vendors that do not exist yet; returns how many were created."""
    users = get_user_model().objects
    engineer, security, security2 = (
        users.get(username=u) for u in ("engineer", "security", "security2")
    )
    today = timezone.localdate()
    created = 0
    for demo in DEMO_VENDORS:
        if Vendor.objects.filter(slug=demo.slug).exists():
            continue
        vendor = services.vendor_create(
            actor=engineer,
            data={
                "name": demo.name,
                "slug": demo.slug,
                "service": demo.service,
                "purpose": demo.purpose,
                "internal_owner": engineer,
                "data_sensitivity": demo.data_sensitivity,
                "access_level": demo.access_level,
                "criticality": demo.criticality,
                "data_categories": demo.categories,
                "website": f"https://{demo.slug}.example",
                "storage_regions": "us-east-1, eu-west-1",
                "processing_regions": "us-east-1",
                "transfer_mechanism": "Standard contractual clauses",
                "dpa_signed_on": today - timedelta(days=400),
                "dpa_version": "2024-1",
                "breach_notification_hours": 72,
                "right_to_audit": True,
            },
        )
        created += 1
        if demo.contact[0]:
            services.contact_save(
                vendor_id=vendor.pk,
                actor=engineer,
                data={
                    "name": demo.contact[0],
                    "email": demo.contact[1],
                    "role": "Security contact",
                    "receives_access_keys": True,
                },
            )
        if demo.state == "none":
            continue
        review = services.review_start(vendor_id=vendor.pk, actor=engineer)
        if demo.state == "draft":
            continue
        stale = demo.state == "stale"
        _fill_and_submit(
            review,
            engineer,
            period_end=today - timedelta(days=420 if stale else 90),
            blocker_no=demo.state == "conditional",
        )
        if demo.state == "submitted":
            continue
        decision = (
            SubprocessorReview.Status.CONDITIONAL
            if demo.state == "conditional"
            else SubprocessorReview.Status.APPROVED
        )
        services.review_decide(
            review_id=review.pk,
            actor=security if vendor.pk % 2 else security2,
            decision=decision,
            mfa_verified=True,  # seeded data: as if decided from an MFA-verified session
            comment="Reviewed for the demo.",
            conditions="Map the open CUECs before the next review."
            if demo.state == "conditional"
            else "",
        )
        # Show the time-dependent states by moving the decision back (demo data only).
        months = services.review_interval_months(vendor.effective_tier)
        decided = {
            "overdue": services.add_months(today, -(months + 1)),
            "due_soon": services.add_months(today, -months) + timedelta(days=15),
        }.get(demo.state)
        if decided:
            SubprocessorReview.objects.filter(pk=review.pk).update(
                decided_at=timezone.now() - (today - decided),
                next_review_due=services.add_months(decided, months),
            )
    return created
