"""The API shape of documents and collections, built from lean `.values()` rows."""

from __future__ import annotations

from typing import Any

from baas.rules.values import canonical_timestamp

__all__ = ["DOCUMENT_COLUMNS", "canonical_timestamp", "collection", "document"]
from documents.models import Collection

DOCUMENT_COLUMNS = ("key", "owner", "data", "version", "created_at", "updated_at")


def document(row: dict[str, Any], collection: str) -> dict[str, Any]:
    return {
        "id": row["key"],
        "collection": collection,
        "data": row["data"],
        "owner": row["owner"],
        "version": row["version"],
        "created_at": canonical_timestamp(row["created_at"]),
        "updated_at": canonical_timestamp(row["updated_at"]),
    }


def collection(row: Collection) -> dict[str, Any]:
    return {
        "name": row.name,
        "rules": {operation: (row.rules or {}).get(operation) for operation in ("read", "create", "update", "delete")},
        "schema": row.schema,
        "indexes": row.indexes or [],
        "created_at": canonical_timestamp(row.created_at),
        "updated_at": canonical_timestamp(row.updated_at),
    }
