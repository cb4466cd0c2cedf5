"""The stack's fixtures (tests/stack.py), for the browser tests that walk the real processes."""

from tests.stack import (  # noqa: F401  fixtures, found by pytest by their names here
    _portal_settings,
    reports_worker,
    stack,
    substrate,
    through_redis,
    web,
    worker,
)
