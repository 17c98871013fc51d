"""Values of rows read with plain SQL (outside the ORM's converters), the same on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def aware(value: Any) -> datetime:
    """PostgreSQL hands back aware datetimes; SQLite the naive UTC text Django stored."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def json_value(value: Any) -> Any:
    """A JSON column: text on SQLite, and on PostgreSQL too (Django reads jsonb as text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def prepared_cursor(connection: Any) -> Any:
    """A cursor for a fixed statement run on every request: prepared once per connection on
    PostgreSQL (`baas.dbbackend`), a plain cursor elsewhere."""
    make = getattr(connection, "prepared_cursor", None)
    return make() if make is not None else connection.cursor()
