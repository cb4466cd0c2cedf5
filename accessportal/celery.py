"""The Celery application: configuration comes from Django settings (`CELERY_*`)."""

import os
import sys

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")

app = Celery("accessportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _check_configuration_before_work(**_: object) -> None:
    """Refuse to start a worker that cannot reach its database or broker, with a clear message."""
    # Here, not at the top: this module is imported before Django is set up (the project's
    # __init__), and the checks read Django's settings and database.
    from accessportal.preflight import preflight_problems

    problems = preflight_problems()
    if problems:
        sys.stderr.write("Cannot start the worker:\n  - " + "\n  - ".join(problems) + "\n")
        sys.exit(2)
