"""WSGI entry point (gunicorn `accessportal.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")

application = get_wsgi_application()
