from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """E-mail and Slack notices of the workflow's events, sent by the worker."""

    name = "notifications"
    verbose_name = "Notifications"
