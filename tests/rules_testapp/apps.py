from __future__ import annotations

from django.apps import AppConfig


class RulesTestAppConfig(AppConfig):
    name = "tests.rules_testapp"
    label = "rules_testapp"
    default_auto_field = "django.db.models.BigAutoField"
