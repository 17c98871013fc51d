"""Reads: fetch buckets and objects, enforcing the caller's right to see them.

Buckets are managed (and seen whole, rules included) by the service role and staff only; objects
are read by a public bucket, a signed URL or the bucket's read rule, and listings come out already
restricted by that rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Sum

from baas.errors import NotFound, PermissionDenied
from baas.principals import Principal
from storage import rows, signing
from storage.models import Bucket, StoredObject
from storage.paths import check_path, check_prefix
from storage.payloads import COLUMNS
from storage.rows import AnyBucket, AnyObject, BucketRow, ObjectRow
from storage.rules import BUCKET_RULES


def require_manager(principal: Principal) -> None:
    """Buckets (their settings and rules) are the service role's and staff's business only."""
    if principal.kind not in ("service", "staff"):
        raise PermissionDenied("Only the service role and staff manage buckets.")


def get_bucket(name: str) -> Bucket:
    """The bucket, or 404 for every caller. Bucket names are not secret; what the bucket holds is
    guarded by the object selectors below."""
    bucket = Bucket.objects.filter(name=name).first() if isinstance(name, str) and len(name) <= 63 else None
    if bucket is None:
        raise missing_bucket(name)
    return bucket


def missing_bucket(name: str) -> NotFound:
    return NotFound(f"There is no bucket named {name!r}.", details={"bucket": name})


@dataclass(frozen=True)
class Found:
    """What one statement already read for a request, together with its credential
    (`caller_and_object`): the bucket (None: there is none by that name) and its object at the
    path (None: none there). The selectors and services take it instead of reading again."""

    bucket: BucketRow | None
    obj: ObjectRow | None


def caller_and_object(key_check: rows.KeyCheck, bucket: str, path: str) -> tuple[Principal, Found] | None:
    """The caller of a service key or access token (auth's pending check) and the bucket and
    object at `path`, in one statement; None when the key is not an active one or the token's
    session not an open one (nothing else is read then). Nothing is checked about the bucket or
    the path yet: `bucket_and_object(…, found=…)` does that, as without a prefetch."""
    key_row, bucket_row, obj = rows.bucket_and_object_checking_key(key_check, bucket, path)
    if key_row is None:
        return None
    return key_check.principal(key_row), Found(bucket_row, obj)


def bucket_and_object(bucket: str, path: str, found: Found | None = None) -> tuple[BucketRow, ObjectRow | None]:
    """The bucket (else 404) and its object at `path` (None: there is none), in one statement
    (none at all when `found` holds them already). The path is checked first (400), but a missing
    bucket is still 404 whatever the path."""
    try:
        check_path(path)
    except Exception:
        if found is None:
            get_bucket(bucket)
        elif found.bucket is None:
            raise missing_bucket(bucket) from None
        raise
    return _bucket_and_object_at(bucket, path, found)


def _bucket_and_object_at(bucket: str, path: str, found: Found | None) -> tuple[BucketRow, ObjectRow | None]:
    """`bucket_and_object` of a path already checked."""
    if found is not None:
        bucket_row, obj = found.bucket, found.obj
    elif not isinstance(bucket, str) or len(bucket) > 63:
        raise missing_bucket(bucket)
    else:
        bucket_row, obj = rows.bucket_and_object(bucket, path)
    if bucket_row is None:
        raise missing_bucket(bucket)
    return bucket_row, obj


def access_bucket(*, principal: Principal, name: str) -> Bucket:
    """The bucket with its settings and rules, for a manager."""
    require_manager(principal)
    return get_bucket(name)


def list_buckets(*, principal: Principal, after: str | None, limit: int) -> list[Bucket]:
    """Buckets by name after `after`, `limit + 1` at most, for a manager."""
    require_manager(principal)
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
    found: Found | None = None,
) -> tuple[BucketRow, ObjectRow]:
    """The object, if the caller may read it: by a signed URL (checked first, so that a stranger
    learns nothing about which paths exist), a public bucket, or the bucket's read rule."""
    check_path(path)
    signed = expires is not None or signature is not None
    if signed:
        signing.verify(bucket, path, expires=expires, signature=signature)
    bucket_row, obj = _bucket_and_object_at(bucket, path, found)  # one statement, prepared (storage/rows.py)
    if obj is None:
        if signed:
            raise missing_object(bucket, path)
        raise hidden_object(principal, bucket_row, path, read_denied())
    if signed or may_read(principal, bucket_row, obj):
        return bucket_row, obj
    raise hidden_object(principal, bucket_row, path, read_denied())


def missing_object(bucket: str, path: str) -> NotFound:
    return NotFound("There is no object at this path.", details={"bucket": bucket, "path": path})


def hidden_object(principal: Principal, bucket: AnyBucket, path: str, refusal: Exception) -> Exception:
    """What a caller who may not read an object is told — the same whether the path is taken or
    not: 404 when the read rule admits them to an absent (empty) object, else `refusal` (403)."""
    if may_read(principal, bucket, None):
        return missing_object(bucket.name, path)
    return refusal


def may_read(principal: Principal, bucket: AnyBucket, obj: AnyObject | None) -> bool:
    """Whether the caller may read the object (None: asked about an empty one, for a missing path)."""
    if bucket.public:
        return True
    return BUCKET_RULES.allows(bucket.rules, "read", principal=principal, doc=obj.as_rules_doc() if obj else None)


def read_denied() -> PermissionDenied:
    return PermissionDenied("The bucket's read rule does not allow you to read this object.")


def list_objects(
    *, principal: Principal, bucket: str, prefix: str, after: str | None, limit: int
) -> list[Mapping[str, Any]]:
    """Objects under `prefix` that the caller may read, in path order, `limit + 1` at most; each a
    row of `storage.payloads.COLUMNS` (render it with `object_payload`).

    The read rule is applied as an SQL filter, so pages are full and cursors stay exact.
    """
    rows = _readable_under(principal=principal, bucket=bucket, prefix=prefix)
    if after is not None:
        rows = rows.filter(path__gt=after)
    return list(rows.order_by("path").values(*COLUMNS)[: limit + 1])


def _readable_under(*, principal: Principal, bucket: str, prefix: str) -> Any:
    """The objects under `prefix` that the read rule lets `principal` see, as a queryset."""
    bucket_row = get_bucket(bucket)
    check_prefix(prefix)
    rows = StoredObject.objects.filter(bucket=bucket_row)
    if prefix:
        rows = rows.filter(path__startswith=prefix)
    if not bucket_row.public:
        condition = BUCKET_RULES.read_filter(bucket_row.rules, principal=principal)
        if condition is not None:
            rows = rows.filter(condition)
    return rows


def read_rule_predicate(*, bucket: str) -> Any:
    """For realtime fan-out: a predicate `(object, *, auth, now) -> bool` over the API shape of an
    object (which is also the rules' shape), or None when only the service role and staff may
    read. A public bucket is readable by anyone. Raises NotFound for an unknown bucket."""
    row = get_bucket(bucket)
    if row.public:
        return _anyone
    return BUCKET_RULES.read_predicate(row.rules)


def _anyone(doc: Any, **_: Any) -> bool:
    return True


def storage_totals() -> dict[str, int]:
    """How many buckets and objects exist and how many bytes the objects hold (for the console's
    overview; checks no rights)."""
    objects = StoredObject.objects.aggregate(objects=Count("id"), bytes=Sum("size"))
    return {"buckets": Bucket.objects.count(), "objects": objects["objects"], "bytes": objects["bytes"] or 0}


def list_folder(
    *, principal: Principal, bucket: str, prefix: str, limit: int = 200
) -> tuple[list[str], list[Mapping[str, Any]], bool]:
    """One level of a bucket seen as folders (the console's browser): the sub-folders directly
    under `prefix` (each ending in '/') and the objects directly in it, at most `limit` entries in
    all, restricted by the read rule like `list_objects`. The third value says more were left out.

    Folders are found by skipping every object under one once it is seen (a `startswith`
    exclusion, so it holds whatever the database's collation orders '/' as).
    """
    rows = _readable_under(principal=principal, bucket=bucket, prefix=prefix)
    folders: list[str] = []
    objects: list[Mapping[str, Any]] = []
    after: str | None = None
    while True:
        batch_rows = rows
        for folder in folders:
            batch_rows = batch_rows.exclude(path__startswith=folder)
        if after is not None:
            batch_rows = batch_rows.filter(path__gt=after)
        batch = list(batch_rows.order_by("path").values(*COLUMNS)[:limit])
        if not batch:
            return folders, objects, False
        for row in batch:
            if len(folders) + len(objects) >= limit:
                return folders, objects, True
            after = row["path"]
            rest = row["path"][len(prefix) :]
            if "/" not in rest:
                objects.append(row)
                continue
            folder = prefix + rest.split("/", 1)[0] + "/"
            if folder not in folders:
                folders.append(folder)
                break  # query again without that folder's objects
