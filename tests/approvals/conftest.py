"""Fixtures of the approvals tests."""

from __future__ import annotations

import pytest

from accessportal.roles import Role
from tests.vendors.helpers import complete_review, vendor_data
from vendors import services as vendor_services


@pytest.fixture
def reviewed_vendor(engineer, make_user):
    """A vendor whose SOC 2 review security approved: its requests can be decided."""
    vendor = vendor_services.vendor_create(actor=engineer, data=vendor_data(engineer))
    reviewer = make_user("rita", Role.SECURITY)
    review = vendor_services.review_start(vendor_id=vendor.pk, actor=engineer)
    complete_review(review, engineer)
    vendor_services.review_submit(review_id=review.pk, actor=engineer)
    vendor_services.review_decide(
        review_id=review.pk, actor=reviewer, decision="approved", mfa_verified=True
    )
    return vendor
