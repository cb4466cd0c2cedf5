from django.apps import AppConfig


class RecertificationConfig(AppConfig):
    """Re-certification: each live grant kept or revoked by its vendor's owner and security,
    on the vendor's review cadence or in a campaign security starts (issue 18)."""

    name = "recertification"
    verbose_name = "Re-certification"
