"""`baas beat`: the scheduler that sends periodic tasks (schedules live in the database)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the Celery beat scheduler (django-celery-beat's database scheduler)."

    def handle(self, *args: Any, **options: Any) -> None:
        from baas.celery import app

        # An empty --pidfile keeps beat from writing celerybeat.pid into the working directory.
        app.start(["beat", "--loglevel", "INFO", "--pidfile=", "--scheduler", settings.CELERY_BEAT_SCHEDULER])
