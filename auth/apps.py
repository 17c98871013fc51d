from __future__ import annotations

from django.apps import AppConfig


class AuthConfig(AppConfig):
    """Users, sessions and service keys. Labelled `baas_auth`: Django's own app is `auth`."""

    name = "auth"
    label = "baas_auth"
    verbose_name = "baas auth"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auth import schema  # noqa: F401  (registers the OpenAPI descriptions of our auth classes)
