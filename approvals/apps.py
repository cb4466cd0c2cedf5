from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """AWS account inventory, access requests, approvals and the audit log: the workflow."""

    name = "approvals"
