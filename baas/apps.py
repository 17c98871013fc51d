from __future__ import annotations

from django.apps import AppConfig


class BaasConfig(AppConfig):
    """The shared kernel: principals, errors, the rules language, the event log."""

    name = "baas"
    verbose_name = "baas kernel"

    def ready(self) -> None:
        # Make the project's Celery app the current one in every process (web and worker), so that
        # tasks sent from a request go to the configured broker.
        from baas.celery import app  # noqa: F401
