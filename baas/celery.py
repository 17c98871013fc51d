"""The Celery app: tasks of every service, configured from the CELERY_* Django settings."""

from __future__ import annotations

import os

from celery import Celery

from baas import queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
queue.register()

app = Celery("baas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
