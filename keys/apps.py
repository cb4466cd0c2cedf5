from django.apps import AppConfig


class KeysConfig(AppConfig):
    """IAM users' access keys: issued, delivered once, rotated and deactivated."""

    name = "keys"
    verbose_name = "Access keys"
