"""The production settings with the bench URLconf: the portal's routes plus the floors.

gunicorn in `bench/bench_load.py` serves this, so the floor views (bench/floors.py) run behind
the same middleware, sessions and workers as the pages they are compared with.
"""

from accessportal.settings import *  # noqa: F403  (the production settings, then one change)

ROOT_URLCONF = "bench.floors"
