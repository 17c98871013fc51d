"""The API shape of a document, built from lean `.values()` rows.

This one representation lives outside `api/` on purpose: it is more than the REST answer. It is
what the rules see (`$id`, `$owner`, `data`…), what the event log records as `before`/`after`
(and so what realtime sends and functions' triggers receive), what selectors and services return
to functions' writes, and what the lean paths (documents/lean.py, documents/api/lean.py) answer.
Services and selectors may not import `api/` (only urls does), so the shape sits beside them. The
collection shape is the REST API's alone and lives in `documents/api/representations.py`.
"""

from __future__ import annotations

from typing import Any

from baas.timestamps import rfc3339

DOCUMENT_COLUMNS = ("key", "owner", "data", "version", "created_at", "updated_at")


def document(row: dict[str, Any], collection: str) -> dict[str, Any]:
    return {
        "id": row["key"],
        "collection": collection,
        "data": row["data"],
        "owner": row["owner"],
        "version": row["version"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
