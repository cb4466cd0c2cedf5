from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """The organization's AWS accounts, read from the Substrate repository and AWS."""

    name = "inventory"
    verbose_name = "AWS account inventory"
