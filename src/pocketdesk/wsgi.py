"""WSGI entry point: HTTP pages and the API (served by gunicorn workers)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pocketdesk.settings")
application = get_wsgi_application()
