from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Outgoing webhooks ride on the trigger dispatcher's cursor (webhooks/delivery.py).
        from functions import services as functions
        from webhooks import delivery

        functions.subscribe_to_dispatch(delivery.deliveries_for)
