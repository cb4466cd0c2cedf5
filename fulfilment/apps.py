from django.apps import AppConfig


class FulfilmentConfig(AppConfig):
    """Turns approvals into pull requests, follows them to merge, and revokes access."""

    name = "fulfilment"
    verbose_name = "Fulfilment"
