from django.apps import AppConfig


class VendorsConfig(AppConfig):
    """Vendors, their contacts and SOC 2 subprocessor reviews."""

    name = "vendors"
