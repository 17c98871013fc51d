"""What the storage API answers for buckets and objects (schemas in `api/schemas.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baas.timestamps import rfc3339
from storage.models import Bucket, StoredObject
from storage.payloads import ObjectPayload, object_payload
from storage.rules import BUCKET_RULES


def bucket_dict(bucket: Bucket) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "public": bucket.public,
        "max_size": bucket.max_size,
        "allowed_types": list(bucket.allowed_types),
        "rules": {operation: bucket.rules.get(operation) for operation in BUCKET_RULES.operations},
        "created_at": rfc3339(bucket.created_at),
        "updated_at": rfc3339(bucket.updated_at),
    }


def object_dict(obj: StoredObject | Mapping[str, Any], bucket: str) -> ObjectPayload:
    """An object's metadata: the same shape its events carry (storage/payloads.py)."""
    return object_payload(obj, bucket)
