from django.apps import AppConfig


class WebConfig(AppConfig):
    """The portal's pages, the admin and the webhook routes: HTTP over every app's services."""

    name = "web"
    verbose_name = "Pages"
