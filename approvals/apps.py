from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """Access requests and their decisions: the workflow from a draft to an approved grant."""

    name = "approvals"
