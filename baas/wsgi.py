"""WSGI entry point: the REST API under a multi-worker WSGI server (see docs/serving.md)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

application = get_wsgi_application()
