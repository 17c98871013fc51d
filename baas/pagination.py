"""Keyset pagination: `?limit=` and an opaque `?cursor=`, answering `{items, next_cursor}`.

A cursor encodes the sort key of the last item served, so pages stay correct while rows are
inserted or deleted between requests (no OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from baas import jsonvalues
from baas.errors import InvalidRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest("limit must be a whole number.", details={"limit": raw}) from None
    if not 1 <= value <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}.", details={"limit": value})
    return value


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Kinds of the values a cursor position holds, checked before they reach a query: a crafted cursor
# gets the same 400 as a corrupted one, never a database error.
INT, NUMBER, STRING, TIMESTAMP, UUID = "int", "number", "string", "timestamp", "uuid"
MAX_CURSOR_LENGTH = 4096


def decode_cursor(cursor: str | None, kinds: Sequence[str] | None = None) -> list[Any] | None:
    """The position a cursor of `encode_cursor` holds, or None without a cursor.

    With `kinds`, the position must have exactly that many values, each of its kind: `INT` (an
    integer within ±(2^53 - 1), not a boolean), `NUMBER` (such an integer or a finite double),
    `STRING`, `TIMESTAMP` (an ISO 8601 string with a time zone) or `UUID` (a UUID's text).
    Anything else — bad base64, bad JSON, values outside the JSON policy (baas.jsonvalues), wrong
    shapes — is a 400 `invalid_request`."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _not_ours(cursor)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = jsonvalues.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError, jsonvalues.UnacceptableValue):
        raise _not_ours(cursor) from None
    if not isinstance(position, list):
        raise _not_ours(cursor)
    if kinds is not None and (len(position) != len(kinds) or not all(map(_is_kind, position, kinds))):
        raise _not_ours(cursor)
    return position


def _not_ours(cursor: str) -> InvalidRequest:
    shown = cursor if len(cursor) <= 100 else cursor[:100] + "…"
    return InvalidRequest("The cursor is not one this API handed out.", details={"cursor": shown})


def _is_kind(value: Any, kind: str) -> bool:
    if kind == STRING:
        return isinstance(value, str)
    if kind in (INT, NUMBER):
        # jsonvalues.loads already refused integers past ±(2^53 - 1) and non-finite numbers.
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (kind == NUMBER or isinstance(value, int))
        )
    if kind == TIMESTAMP:
        return isinstance(value, str) and _timestamp(value) is not None
    if kind == UUID:
        try:
            uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            return False
        return isinstance(value, str)
    raise ValueError(f"unknown cursor kind {kind!r}")


def _timestamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def page(items: list[Any], limit: int, position_of: Any) -> dict[str, Any]:
    """Build a page from `limit + 1` fetched rows: the extra row only says whether more exist."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(position_of(items[-1])) if has_more and items else None
    return {"items": items, "next_cursor": next_cursor}


def name_position(query: Any) -> tuple[int, str | None]:
    """`?limit=` and `?cursor=` of a list ordered by a unique name (collections, buckets,
    functions): the limit, and the name after which the page starts (None: from the first)."""
    limit = parse_limit(query.get("limit"))
    position = decode_cursor(query.get("cursor"), (STRING,))
    return limit, str(position[0]) if position else None
