"""Settings for the test process: production's (accessportal.settings), plus what only tests want.

The processes the tests start (gunicorn, Celery workers, beat) keep `accessportal.settings`:
the production topology is what they test (tests/conftest.py's `subprocess_env`, tests/stack.py).
"""

from accessportal.settings import *  # noqa: F403  the production settings, overridden below

# Hashing a password the production way costs ~0.3 s; tests create hundreds of users. Not MD5:
# the gunicorn and workers the tests start run production's hashers and must verify these.
PASSWORD_HASHERS = ["tests.hashers.FewIterationsPBKDF2PasswordHasher"]
# Mail stays in django.core.mail.outbox (pytest-django sets this too; here it holds everywhere).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run inline in the test process; the started workers get CELERY_TASK_ALWAYS_EAGER=false.
CELERY_TASK_ALWAYS_EAGER = True
