"""The navigation: its entries' names are part of the console's contract (tests and docs use them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from functions.sandbox import UNSAFE_LOCAL

NAVIGATION = (
    ("overview", "Overview"),
    ("users", "Users"),
    ("collections", "Collections"),
    ("storage", "Storage"),
    ("functions", "Functions"),
    ("realtime", "Realtime"),
    ("keys", "Keys"),
    ("audit", "Audit log"),
)


def context(request: HttpRequest, section: str, **extra: Any) -> dict[str, Any]:
    """What every page's template gets: the navigation with the current section marked, and
    whether functions run without a sandbox (base.html then warns on every page)."""
    unsandboxed = settings.BAAS_SANDBOX == UNSAFE_LOCAL
    return {"navigation": NAVIGATION, "section": section, "unsandboxed": unsandboxed, **extra}
