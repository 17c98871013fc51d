"""WSGI entry point: the REST API under a multi-worker WSGI server (see docs/serving.md)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

django_application = get_wsgi_application()

from baas.front import LeanFront  # noqa: E402  (needs the apps loaded)

# The hottest API calls are answered before Django's request handling (baas/front.py).
application = LeanFront(django_application)
