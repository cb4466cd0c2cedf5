from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The tamper-evident audit log: every change, hash-chained; everything else records here."""

    name = "audit"
    verbose_name = "Audit log"
