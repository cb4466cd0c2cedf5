"""The links between apps that are names, not imports, point at something real.

Lower apps schedule higher apps' tasks by dotted name and read higher apps' values as
literals (the architecture forbids the import); a typo there would lose work silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from celery import Task

from accessportal import effects
from approvals.models import AccessRequest, Strategy
from vendors import services as vendor_services

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accessportal", "audit", "vendors", "inventory", "approvals", "fulfilment", "keys"]
APPS += ["notifications", "verification", "recertification", "reports", "api", "web", "demo"]
NAMED = re.compile(r'enqueue_on_commit\(\s*"([\w.]+)"')


def _task_names() -> set[str]:
    names = {
        value
        for name, value in vars(effects).items()
        if name.endswith("_TASK") and isinstance(value, str)
    }
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            names.update(NAMED.findall(path.read_text()))
    return names


def test_every_task_scheduled_by_name_is_a_celery_task() -> None:
    names = _task_names()
    assert len(names) >= 10  # the scan found the scheduling calls
    for name in sorted(names):
        assert isinstance(effects.task_named(name), Task), name


def test_vendors_literals_match_the_request_workflow() -> None:
    assert vendor_services.IAM_USER_STRATEGY == Strategy.IAM_USER
    assert set(vendor_services.REQUESTS_UNDER_WAY) <= set(AccessRequest.Status.values)
