"""Documents test helpers: collections made through the service, like an operator would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from documents import services

OWNER_RULES = {
    "read": "public == true || $owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}


@pytest.fixture
def make_collection(db: None) -> Callable[..., dict[str, Any]]:
    def make(name: str = "notes", rules: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return services.create_collection(name=name, rules=OWNER_RULES if rules is None else rules, **extra)

    return make


@pytest.fixture
def notes(make_collection: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A collection where anyone signed in may create, and owners read, change and delete their own."""
    return make_collection()
