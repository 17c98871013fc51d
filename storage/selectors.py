"""Reads: fetch buckets and objects and enforce the caller's right to see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from baas.errors import NotFound, PermissionDenied
from baas.principals import Principal
from storage import rules, signing
from storage.models import Bucket, StoredObject
from storage.paths import check_path, check_prefix

OBJECT_FIELDS = (
    "path",
    "key",
    "size",
    "content_type",
    "etag",
    "owner",
    "metadata",
    "created_at",
    "updated_at",
)


def timestamp(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def bucket_dict(bucket: Bucket) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "public": bucket.public,
        "max_size": bucket.max_size,
        "allowed_types": list(bucket.allowed_types),
        "rules": {operation: bucket.rules.get(operation) for operation in ("read", "create", "update", "delete")},
        "created_at": timestamp(bucket.created_at),
        "updated_at": timestamp(bucket.updated_at),
    }


def object_dict(obj: StoredObject, bucket: str) -> dict[str, Any]:
    """The object's metadata as the API shows it (and as events carry it)."""
    return {
        "bucket": bucket,
        "path": obj.path,
        "size": obj.size,
        "content_type": obj.content_type,
        "etag": obj.etag,
        "owner": obj.owner,
        "metadata": obj.metadata,
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
    }


def get_bucket(name: str) -> Bucket:
    """The bucket, or 404 for every caller."""
    bucket = Bucket.objects.filter(name=name).first() if isinstance(name, str) and len(name) <= 63 else None
    if bucket is None:
        raise NotFound(f"There is no bucket named {name!r}.", details={"bucket": name})
    return bucket


def list_buckets(*, after: str | None, limit: int) -> list[Bucket]:
    rows = Bucket.objects.order_by("name")
    if after is not None:
        rows = rows.filter(name__gt=after)
    return list(rows[: limit + 1])


def access_object(
    *,
    principal: Principal,
    bucket: str,
    path: str,
    expires: str | None = None,
    signature: str | None = None,
) -> tuple[Bucket, StoredObject]:
    """The object, if the caller may read it: by a signed URL (checked first, so that a stranger
    learns nothing about which paths exist), a public bucket, or the bucket's read rule."""
    check_path(path)
    signed = expires is not None or signature is not None
    if signed:
        signing.verify(bucket, path, expires=expires, signature=signature)
    # One query for the common case (bucket and object both there); the bucket alone on a miss.
    obj = next(iter(StoredObject.objects.select_related("bucket").filter(bucket__name=bucket, path=path)[:1]), None)
    if obj is None:
        bucket_row = get_bucket(bucket)
        if signed:
            raise missing_object(bucket, path)
        raise hidden_object(principal, bucket_row, path, read_denied())
    bucket_row = obj.bucket
    if signed or may_read(principal, bucket_row, obj):
        return bucket_row, obj
    raise hidden_object(principal, bucket_row, path, read_denied())


def missing_object(bucket: str, path: str) -> NotFound:
    return NotFound("There is no object at this path.", details={"bucket": bucket, "path": path})


def hidden_object(principal: Principal, bucket: Bucket, path: str, refusal: Exception) -> Exception:
    """What a caller who may not read an object is told — the same whether the path is taken or
    not: 404 when the read rule admits them to an absent (empty) object, else `refusal` (403)."""
    if may_read(principal, bucket, None):
        return missing_object(bucket.name, path)
    return refusal


def may_read(principal: Principal, bucket: Bucket, obj: StoredObject | None) -> bool:
    """Whether the caller may read the object (None: asked about an empty one, for a missing path)."""
    if bucket.public:
        return True
    return rules.allows(bucket.rules, "read", principal=principal, doc=obj.as_rules_doc() if obj else None)


def read_denied() -> PermissionDenied:
    return PermissionDenied("The bucket's read rule does not allow you to read this object.")


def list_objects(
    *, principal: Principal, bucket: str, prefix: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Objects under `prefix` that the caller may read, in path order, `limit + 1` at most.

    The read rule is applied as an SQL filter, so pages are full and cursors stay exact.
    """
    bucket_row = get_bucket(bucket)
    check_prefix(prefix)
    rows = StoredObject.objects.filter(bucket=bucket_row)
    if prefix:
        rows = rows.filter(path__startswith=prefix)
    if not bucket_row.public:
        condition = rules.read_filter(bucket_row.rules, principal=principal)
        if condition is not None:
            rows = rows.filter(condition)
    if after is not None:
        rows = rows.filter(path__gt=after)
    found = rows.order_by("path").values(*OBJECT_FIELDS)[: limit + 1]
    return [
        {
            "bucket": bucket,
            "path": row["path"],
            "size": row["size"],
            "content_type": row["content_type"],
            "etag": row["etag"],
            "owner": row["owner"],
            "metadata": row["metadata"],
            "created_at": timestamp(row["created_at"]),
            "updated_at": timestamp(row["updated_at"]),
        }
        for row in found
    ]
