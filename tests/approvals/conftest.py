"""Fixtures of the approvals tests."""

from __future__ import annotations

import pytest

from accessportal.roles import Role
from tests.fulfilment.helpers import reviewed_vendor as reviewed_vendor_of


@pytest.fixture
def reviewed_vendor(engineer, make_user):
    """A vendor whose SOC 2 review security approved: its requests can be decided."""
    return reviewed_vendor_of(engineer, make_user("rita", Role.SECURITY))
