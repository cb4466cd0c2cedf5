from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A second factor used in the portal is what lets an approving token act (tokens.py).
        from api import signals  # noqa: F401
