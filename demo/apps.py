from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data and the AWS emulator for `make run`; never used by the product's code."""

    name = "demo"
    verbose_name = "Demo"
