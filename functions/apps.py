from __future__ import annotations

from django.apps import AppConfig


class FunctionsConfig(AppConfig):
    name = "functions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from functions import metrics

        metrics.register()
