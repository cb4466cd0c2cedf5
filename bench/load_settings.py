"""The production settings with the bench URLconf: the portal's routes plus the floors.

gunicorn in `bench/bench_load.py` serves this, so the floor views (bench/floors.py) run behind
the same middleware, sessions and workers as the pages they are compared with.
"""

from accessportal.settings import *  # noqa: F403  (the production settings, then one change)

ROOT_URLCONF = "bench.floors"

# Every simulated user signs in from the one loopback address, where allauth's per-address
# limit on sign-ins (30 a minute) would answer 429 to the 50 users starting together; people
# sign in from their own addresses. The limit on failed sign-ins stays.
ACCOUNT_RATE_LIMITS = {**ACCOUNT_RATE_LIMITS, "login": "1000/m/ip"}  # noqa: F405
