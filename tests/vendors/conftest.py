"""Fixtures for vendor and review tests: people in each role and reviews in each state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accessportal.roles import Role
from vendors import services
from vendors.models import ChecklistAnswer, SubprocessorReview, Vendor

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


@pytest.fixture
def engineer(make_user):
    return make_user("erin", first_name="Erin")


@pytest.fixture
def other_engineer(make_user):
    return make_user("omar")


@pytest.fixture
def security(make_user):
    return make_user("sam", Role.SECURITY, is_staff=True)


@pytest.fixture
def security2(make_user):
    return make_user("sasha", Role.SECURITY, is_staff=True)


@pytest.fixture
def auditor(make_user):
    return make_user("ari", Role.AUDITORS)


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


@pytest.fixture
def make_vendor(engineer):
    def make(**overrides: Any) -> Vendor:
        return services.vendor_create(actor=engineer, data=vendor_data(engineer, **overrides))

    return make


@pytest.fixture
def vendor(make_vendor):
    return make_vendor()


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


@pytest.fixture
def submitted_review(vendor, engineer):
    review = services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    return services.review_submit(review_id=review.pk, actor=engineer)


@pytest.fixture
def approved_review(submitted_review, security):
    return services.review_decide(
        review_id=submitted_review.pk, actor=security, decision="approved", mfa_verified=True
    )


__all__ = ["PDF", "ChecklistAnswer", "complete_review", "pdf_upload", "vendor_data"]
