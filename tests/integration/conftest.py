"""The stack's fixtures (tests/stack.py): real processes sharing this session's database."""

from tests.stack import (  # noqa: F401  fixtures, found by pytest by their names here
    _portal_settings,
    stack,
    start_worker,
    substrate,
    through_redis,
    web,
    worker,
)
