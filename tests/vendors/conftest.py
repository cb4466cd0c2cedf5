"""Fixtures for vendor and review tests: reviews in each state (people are in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vendors.helpers import complete_review, vendor_data
from vendors import services
from vendors.models import Vendor


@pytest.fixture
def engineer(make_user):
    # Unlike tests/conftest.py's erin, this one has a first name, as the vendor tests' always had.
    return make_user("erin", first_name="Erin")


@pytest.fixture
def other_engineer(make_user):
    return make_user("omar")


@pytest.fixture
def make_vendor(engineer):
    def make(**overrides: Any) -> Vendor:
        return services.vendor_create(actor=engineer, data=vendor_data(engineer, **overrides))

    return make


@pytest.fixture
def vendor(make_vendor):
    return make_vendor()


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
