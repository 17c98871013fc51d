"""Keyset pagination: `?limit=` and an opaque `?cursor=`, answering `{items, next_cursor}`.

A cursor encodes the sort key of the last item served, so pages stay correct while rows are
inserted or deleted between requests (no OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

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


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("The cursor is not one this API handed out.", details={"cursor": cursor}) from None
    if not isinstance(position, list):
        raise InvalidRequest("The cursor is not one this API handed out.", details={"cursor": cursor})
    return position


def page(items: list[Any], limit: int, position_of: Any) -> dict[str, Any]:
    """Build a page from `limit + 1` fetched rows: the extra row only says whether more exist."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(position_of(items[-1])) if has_more and items else None
    return {"items": items, "next_cursor": next_cursor}
