"""Project-wide models."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the periodic heartbeat task.

    Security sees it on the dashboard: a grant approved while no worker runs would otherwise
    wait silently.
    """

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
