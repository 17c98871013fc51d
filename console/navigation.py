"""The navigation: its entries' names are part of the console's contract (tests and docs use them)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

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
    """What every page's template gets: the navigation with the current section marked."""
    return {"navigation": NAVIGATION, "section": section, **extra}
