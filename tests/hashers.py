"""A fast password hasher for the test process that production's processes still verify."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FewIterationsPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few iterations: the hash records its iteration count, so the gunicorn the
    tests start (production's hashers) verifies these users' passwords too (and rehashes
    them at full strength on sign-in)."""

    iterations = 1_000
