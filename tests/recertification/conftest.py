"""Fixtures of the re-certification tests: live grants of a reviewed vendor, and the Substrate
repository served by the fake GitHub (fulfilment's fixtures) for the removal pull requests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from approvals.models import AccessRequest
from fulfilment.models import PullRequest
from fulfilment.sync import pull_requests_sync
from fulfilment.tasks import provision_access_task
from recertification import services
from tests.fulfilment.conftest import github, substrate  # noqa: F401  shared fixtures
from tests.fulfilment.helpers import approved, status


@pytest.fixture
def grant(engineer, security, make_user, substrate) -> AccessRequest:  # noqa: F811
    """An approved (live) grant of Orbit CI, whose internal owner is `engineer`."""
    return approved(engineer, security, make_user, substrate)


@pytest.fixture
def active(github, grant) -> AccessRequest:  # noqa: F811
    """The grant merged: active, its pull request on the fake GitHub."""
    provision_access_task.delay(grant.pk)
    github.merge(PullRequest.objects.get(access_request=grant).number)
    assert pull_requests_sync() == 1
    assert status(grant) == "active"
    return grant


def start(security: Any, **kwargs: Any) -> Any:
    """A campaign started by `security` (with a second factor), due in a week."""
    kwargs.setdefault("deadline", timezone.localdate() + timedelta(days=7))
    kwargs.setdefault("name", "Q4 access review")
    return services.campaign_start(actor=security, mfa_verified=True, **kwargs)


def answer(
    certification: Any, actor: Any, part: str, decision: str, note: str = "Still needed."
) -> Any:
    return services.certification_answer(
        certification_id=certification.pk,
        actor=actor,
        part=part,
        decision=decision,
        note=note,
        mfa_verified=True,
    )
