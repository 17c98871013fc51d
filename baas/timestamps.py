"""The one way the API writes a timestamp: RFC 3339 in UTC, microseconds, `Z` (2026-12-04T11:18:39.000000Z).

Documents, objects, functions, users and keys all render their times through `rfc3339`, so a
client parses one format everywhere, and the rules language compares the same strings
(`baas.rules.values.canonical_timestamp` is the definition; this module is its name for the API).
"""

from __future__ import annotations

from datetime import datetime

from baas.rules.values import canonical_timestamp


def rfc3339(value: datetime | str | None) -> str | None:
    """The API's text of a timestamp; None stays None (a time that has not happened yet)."""
    return canonical_timestamp(value)
