"""The vendor access portal's Django project; importing it loads the Celery app."""

from accessportal.celery import app as celery_app

__all__ = ("celery_app",)
