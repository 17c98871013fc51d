"""Values of rows read with plain SQL (outside the ORM's converters), the same on both databases."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from baas import jsonvalues


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


RawRow = tuple[bytes | None, ...]


def lean_rows(db: Any, sql: str, params: Sequence[Any]) -> list[RawRow]:
    """A fixed statement's rows through `baas.dbbackend`'s `lean_execute` (PostgreSQL only): each
    column as PostgreSQL's text, read with the functions below."""
    rows: list[RawRow] = db.lean_execute(sql, params)
    return rows


# Columns of a `lean_rows` row.


def raw_jsonb(value: bytes | None) -> str | None:
    """A jsonb column of a `lean_execute` row as the connection's loader gives it (StoredJsonbLoader)."""
    return None if value is None else jsonvalues.stored_text(value.decode())


def raw_bool(value: bytes | None) -> bool | None:
    return None if value is None else value == b"t"


def raw_text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()
