"""The Celery app: tasks of every service, configured from the CELERY_* Django settings."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun

from baas import queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")
queue.register()

app = Celery("baas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_postrun.connect
def _close_unusable_connections(sender: Any = None, **_: Any) -> None:
    """After each task a worker ran, what Django does after each request: close a connection that
    failed or outlived DB_CONN_MAX_AGE, keep the others (CELERY_DB_REUSE_MAX in baas/settings.py
    says why Celery's own closing is off). Not for a task run eagerly inside the caller's code."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
