"""Helpers for vendor and review tests, shared with other apps' tests (not fixtures)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from vendors import services
from vendors.models import SubprocessorReview

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def vendor_data(owner: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Orbit CI",
        "slug": "orbit-ci",
        "service": "Hosted CI/CD",
        "purpose": "Builds our code.",
        "internal_owner": owner,
        "data_sensitivity": "confidential",
        "access_level": "write",
        "criticality": "high",
        "data_categories": ["source_code"],
    }
    return {**data, **overrides}


def pdf_upload(name: str = "report.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def complete_review(
    review: SubprocessorReview,
    author: Any,
    *,
    answer: str = "yes",
    period_end_days_ago: int = 60,
    no_codes: tuple[str, ...] = (),
) -> None:
    """Fills every field and answer of a draft so that it can be submitted."""
    today = timezone.localdate()
    end = today - timedelta(days=period_end_days_ago)
    answers = {}
    for item in review.answers.all():
        value = "no" if item.item_code in no_codes else answer
        answers[item.pk] = (value, f"note {item.item_code}")
    services.review_update(
        review_id=review.pk,
        actor=author,
        report={
            "report_type": "soc2_type2",
            "scope_covers_service": True,
            "trust_services_categories": ["security"],
            "period_start": end - timedelta(days=365),
            "period_end": end,
            "report_issued_on": end + timedelta(days=30),
            "auditor_firm": "Example LLP",
            "opinion": "unqualified",
            "residual_risk": "low",
        },
        answers=answers,
    )
    for item in review.answers.filter(evidence_required=True):
        services.evidence_add(
            review_id=review.pk, actor=author, upload=pdf_upload(), answer_id=item.pk
        )
