"""The one shape of an object's metadata outside the database: what the API answers, what events
carry (`before`/`after` on topic `storage/<bucket>`), and what `write_object` hands a function.

It lives outside `api/` because services build it for events; `api/representations.py` reuses it
for responses, so the REST answer and the event of the same write are equal by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baas.timestamps import rfc3339
from storage.models import StoredObject
from storage.rows import ObjectRow

# The model columns the shape is built from (a listing selects only these).
COLUMNS = ("path", "size", "content_type", "etag", "owner", "metadata", "created_at", "updated_at")


# bucket, path, size, content_type, etag, owner, metadata, created_at, updated_at (api/schemas.py
# declares it as `StoredObject`). A plain dict: events.Change and JSON rendering take it as is.
ObjectPayload = dict[str, Any]


def object_payload(obj: StoredObject | ObjectRow | Mapping[str, Any], bucket: str) -> ObjectPayload:
    """The object's metadata; `obj` is a row or a mapping of `COLUMNS` (a `.values()` row)."""
    row: Mapping[str, Any] = obj if isinstance(obj, Mapping) else {name: getattr(obj, name) for name in COLUMNS}
    return {
        "bucket": bucket,
        "path": row["path"],
        "size": row["size"],
        "content_type": row["content_type"],
        "etag": row["etag"],
        "owner": row["owner"],
        "metadata": row["metadata"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
