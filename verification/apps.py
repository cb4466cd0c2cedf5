from django.apps import AppConfig


class VerificationConfig(AppConfig):
    """What AWS holds: each grant read back from its accounts, and outside trust nobody
    approved (issue 17)."""

    name = "verification"
    verbose_name = "Verification in AWS"
