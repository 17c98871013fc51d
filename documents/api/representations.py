"""The REST shape of a collection (`/v1/db/collections…`): only the API renders collections.

Documents have their shape in `documents/representations.py`, outside `api/`, because services,
events and the lean paths use it too.
"""

from __future__ import annotations

from typing import Any

from baas.timestamps import rfc3339
from documents.models import Collection
from documents.rules import COLLECTION_RULES


def collection(row: Collection) -> dict[str, Any]:
    rules = row.rules or {}
    return {
        "name": row.name,
        # Every operation, None where none is set: rules saved before `validate` stored them all
        # hold only the operations that were given.
        "rules": {operation: rules.get(operation) for operation in COLLECTION_RULES.operations},
        "schema": row.schema,
        "indexes": row.indexes or [],
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }
