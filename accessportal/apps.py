from django.apps import AppConfig


class AccessPortalConfig(AppConfig):
    """Project-wide pieces: roles, the dashboard, worker health, start-up checks."""

    name = "accessportal"
    verbose_name = "Access portal"

    def ready(self) -> None:
        from accessportal import checks, signals  # noqa: F401 - registers checks and receivers
