"""Object storage's API for views, the console and other services (functions call the object
functions on behalf of a function principal, after checking its grants).

Writes follow one pattern (docs/storage.md): the bytes go to a fresh backend key recorded in the
blob journal first; the metadata row, the journal update and the event are then written in one
transaction; bytes whose transaction did not commit are removed at once, and the periodic sweep
removes whatever a crash left behind.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from baas import audit, conditional, events
from baas.errors import (
    Conflict,
    InvalidRequest,
    KernelCode,
    PermissionDenied,
    PreconditionFailed,
    TooLarge,
    Unavailable,
    UnsupportedMediaType,
    field_error,
    refuse_unknown_fields,
    require_object,
)
from baas.events import Causation
from baas.multipart import most_bytes
from baas.principals import Principal
from storage import rows, selectors, signing, sniff
from storage.backends import blob_store
from storage.backends.base import Readable
from storage.errors import bucket_not_empty
from storage.models import BlobJournal, Bucket, StoredObject
from storage.paths import check_bucket_name, check_path
from storage.payloads import ObjectPayload, object_payload
from storage.rows import AnyBucket, AnyObject, BucketRow
from storage.rules import BUCKET_RULES
from storage.streams import MeteredReader, check_metadata

logger = logging.getLogger("baas.storage")

__all__ = [
    "check_upload_before_body",
    "create_bucket",
    "delete_bucket",
    "delete_object",
    "open_object",
    "read_object",
    "read_rule_predicate",
    "sign_url",
    "sweep_orphan_blobs",
    "update_bucket",
    "upload_object",
    "write_object",
]


# --- buckets ------------------------------------------------------------------------------------

BUCKET_FIELDS = ("name", "public", "max_size", "allowed_types", "rules")


def _clean_bucket_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """The settings of a bucket body, checked and normalised; `name` is the caller's business."""
    clean: dict[str, Any] = {}
    if "public" in changes:
        if not isinstance(changes["public"], bool):
            raise field_error("public", "invalid_type", "public must be true or false.")
        clean["public"] = changes["public"]
    if "max_size" in changes:
        value = changes["max_size"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise field_error("max_size", "invalid_type", "max_size is a positive number of bytes, or null.")
        if value is not None and value < 1:
            raise field_error("max_size", "invalid", "max_size is a positive number of bytes, or null.")
        clean["max_size"] = value
    if "allowed_types" in changes:
        value = changes["allowed_types"]
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise field_error(
                "allowed_types", "invalid_type", "allowed_types is a list of media types such as image/png or image/*."
            )
        cleaned = []
        for item in value:
            pattern = item.strip().lower()
            exact = sniff.normalize(pattern)
            if pattern.endswith("/*") or pattern in ("*", "*/*"):
                if not sniff.valid_pattern(pattern):
                    raise field_error("allowed_types", "invalid", f"{item!r} is not a media type pattern.")
            elif exact is None:
                raise field_error("allowed_types", "invalid", f"{item!r} is not a media type.")
            else:
                pattern = exact
            cleaned.append(pattern)
        clean["allowed_types"] = cleaned
    if "rules" in changes:
        clean["rules"] = BUCKET_RULES.validate(changes["rules"], field="rules")
    return clean


def create_bucket(*, principal: Principal, fields: Any) -> Bucket:
    """A new bucket; with no rules it is closed to everyone but the service role and staff."""
    selectors.require_manager(principal)
    fields = require_object(fields)
    refuse_unknown_fields(fields, BUCKET_FIELDS)
    name = fields.get("name")
    if name is None:
        raise field_error("name", "required", "This field is required.")
    check_bucket_name(name)
    clean = _clean_bucket_fields(fields)
    clean.pop("name", None)
    clean.setdefault("rules", BUCKET_RULES.validate(None))
    try:
        with transaction.atomic():
            bucket = Bucket.objects.create(name=name, **clean)
            audit.record(actor=principal, action="bucket.create", target=f"bucket:{name}", after=_audited(bucket))
            return bucket
    except IntegrityError:
        raise Conflict(f"A bucket named {name!r} exists already.", details={"name": name}) from None


def update_bucket(*, principal: Principal, name: str, changes: Any) -> Bucket:
    """Change a bucket's settings; `rules` merge per operation (absent operations stay)."""
    selectors.require_manager(principal)
    changes = require_object(changes)
    refuse_unknown_fields(changes, BUCKET_FIELDS)
    bucket = selectors.get_bucket(name)
    if "name" in changes and changes["name"] != bucket.name:
        raise field_error("name", "read_only", "A bucket cannot be renamed.")
    clean = _clean_bucket_fields(changes)
    clean.pop("name", None)
    if "rules" in clean and isinstance(changes.get("rules"), dict):
        # PATCH merges rules per operation: {"rules": {"read": "…"}} leaves the others alone.
        merged = {**bucket.rules, **{op: clean["rules"][op] for op in changes["rules"]}}
        clean["rules"] = merged
    before = _audited(bucket)
    for field, value in clean.items():
        setattr(bucket, field, value)
    with transaction.atomic():
        bucket.save()
        audit.record(
            actor=principal, action="bucket.update", target=f"bucket:{name}", before=before, after=_audited(bucket)
        )
    return bucket


def _audited(bucket: Bucket) -> dict[str, Any]:
    """A bucket's settings as the audit log keeps them."""
    return {field: getattr(bucket, field) for field in BUCKET_FIELDS if field != "name"}


def delete_bucket(*, principal: Principal, name: str) -> None:
    """Deletes an empty bucket; one that still holds objects is refused (409 `conflict`,
    `details.reason = "bucket_not_empty"`)."""
    selectors.require_manager(principal)
    bucket = selectors.get_bucket(name)
    with transaction.atomic():
        if StoredObject.objects.filter(bucket=bucket).exists():
            raise bucket_not_empty(name)
        before = _audited(bucket)
        bucket.delete()
        audit.record(actor=principal, action="bucket.delete", target=f"bucket:{name}", before=before)


# --- writing objects ----------------------------------------------------------------------------


def _owner_of(principal: Principal) -> str | None:
    return principal.id if principal.kind == "user" else None


def _check_preconditions(
    existing: AnyObject | None,
    *,
    if_none_match: str | None,
    if_match: str | None,
    principal: Principal,
    bucket: AnyBucket,
) -> None:
    """RFC 9110: `If-None-Match` compares weakly, `If-Match` strongly (a `W/` tag never matches).

    A caller who may not read the object learns neither its ETag nor whether it exists: a failed
    precondition is the same 403 as a refused upload (see docs/storage.md, existence)."""
    current = existing.etag if existing is not None else None
    none_match_fails = if_none_match is not None and not conditional.if_none_match_passes(if_none_match, current)
    match_fails = if_match is not None and not conditional.if_match_passes(if_match, current)
    if not (none_match_fails or match_fails):
        return
    if not selectors.may_read(principal, bucket, existing):
        raise PermissionDenied(UPLOAD_DENIED)
    if none_match_fails:
        if conditional.entity_tags(if_none_match or "", name="If-None-Match") == [conditional.ANY]:
            raise PreconditionFailed("An object exists at this path (If-None-Match: *).", details={"etag": current})
        raise PreconditionFailed("The object has this ETag (If-None-Match).", details={"etag": current})
    if existing is None:
        raise PreconditionFailed("There is no object at this path (If-Match).")
    raise PreconditionFailed("The object has changed (If-Match does not match).", details={"etag": current})


# One wording for every refused upload, create or replace: it must not tell whether the path is taken.
UPLOAD_DENIED = "The bucket's rules do not allow this upload."


def _limit_of(bucket: AnyBucket) -> int:
    limit = settings.STORAGE_MAX_OBJECT_BYTES
    return min(limit, bucket.max_size) if bucket.max_size else limit


# Bodies of a known length up to this size are read whole before they are stored (one write); the
# same size bounds the downloads read whole (storage/api/views.py). Larger ones stream.
SMALL_OBJECT_BYTES = 256 * 1024


def _new_key(bucket: str) -> str:
    token = uuid.uuid4().hex
    return f"objects/{bucket}/{token[:2]}/{token}"


def upload_object(
    *,
    principal: Principal,
    bucket: str,
    path: str,
    body: Readable,
    length: int | None,
    content_type: str | None,
    metadata: dict[str, Any] | None = None,
    if_none_match: str | None = None,
    if_match: str | None = None,
    causation: Causation | None = None,
    found: selectors.Found | None = None,
) -> tuple[ObjectPayload, bool]:
    """Stream `body` into the object at `path`; returns (metadata, created).

    Everything that can be refused before reading is refused first (bucket, path, declared size
    and type, preconditions, and rules that do not depend on the body). While streaming, the size
    limit (413) and the sniffed type (415) stop the upload at once. The rules are then checked
    with the real size and type, inside the transaction that writes the row and the event.

    A body of a known length up to SMALL_OBJECT_BYTES is read (metered the same way) before
    anything is written, then stored in one write. `found`: the bucket and object as read already
    with the caller's credential (`selectors.caller_and_object`).
    """
    bucket_row, existing = selectors.bucket_and_object(bucket, path, found)  # one statement (storage/rows.py)
    metadata = check_metadata(metadata if metadata is not None else {})
    declared = sniff.normalize(content_type)
    if content_type and declared is None:
        raise UnsupportedMediaType(f"{content_type!r} is not a media type.", details={"content_type": content_type})
    limit = _limit_of(bucket_row)
    if length == 0:
        raise InvalidRequest("The body is empty: an object needs at least one byte.", code=KernelCode.MISSING_BODY)
    if length is not None and length > limit:
        raise TooLarge(
            f"The object is {length} bytes; this bucket accepts at most {limit}.", details={"max_size": limit}
        )
    if declared and declared != sniff.OCTET_STREAM and not sniff.allowed(declared, bucket_row.allowed_types):
        raise _type_not_allowed(declared, bucket_row)
    _check_preconditions(
        existing, if_none_match=if_none_match, if_match=if_match, principal=principal, bucket=bucket_row
    )
    operation = "update" if existing else "create"
    if not principal.bypasses_rules and BUCKET_RULES.decidable_before_body(bucket_row.rules, operation):
        doc = existing.as_rules_doc() if existing else None
        if not BUCKET_RULES.allows(bucket_row.rules, operation, principal=principal, doc=doc):
            raise PermissionDenied(UPLOAD_DENIED)

    resolved: dict[str, str] = {}

    def check_head(head: bytes) -> None:
        final, conflict = sniff.resolve(declared, head)
        if conflict:
            raise UnsupportedMediaType(
                f"The content does not match its declared type: {conflict}.",
                details={"declared": declared, "detected": sniff.sniff(head)},
            )
        if not sniff.allowed(final, bucket_row.allowed_types):
            raise _type_not_allowed(final, bucket_row)
        resolved["content_type"] = final

    reader = MeteredReader(body, limit=limit, on_head=check_head, expected_length=length)
    small = length is not None and length <= SMALL_OBJECT_BYTES
    # A small body is read (hashed, limited, sniffed) whole first: a refused one never reaches the backend.
    data = reader.read() if small else b""
    if small and not data:
        raise InvalidRequest("The body is empty: an object needs at least one byte.", code=KernelCode.MISSING_BODY)
    key = _new_key(bucket_row.name)
    rows.journal(key, BlobJournal.UPLOADING, timezone.now())  # before any byte is written
    store = blob_store()
    try:
        if small:
            store.write_bytes(key, data, content_type=declared or sniff.OCTET_STREAM)
        else:
            store.write(key, reader, content_type=declared or sniff.OCTET_STREAM)
        if reader.size == 0:
            raise InvalidRequest("The body is empty: an object needs at least one byte.", code=KernelCode.MISSING_BODY)
        upload = _Upload(
            principal=principal,
            bucket=bucket_row,
            path=path,
            key=key,
            size=reader.size,
            etag=reader.etag,
            content_type=resolved["content_type"],
            metadata=metadata,
            if_none_match=if_none_match,
            if_match=if_match,
            causation=causation,
        )
        return _commit_upload(upload, seen_free=existing is None)
    except BaseException:
        _discard_blob(key)
        raise


def _type_not_allowed(content_type: str, bucket: AnyBucket) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"This bucket does not accept {content_type}.",
        details={"content_type": content_type, "allowed_types": list(bucket.allowed_types)},
    )


@dataclass(frozen=True)
class _Upload:
    """An upload whose bytes are stored under `key`, ready to be committed."""

    principal: Principal
    bucket: BucketRow
    path: str
    key: str
    size: int
    etag: str
    content_type: str
    metadata: dict[str, Any]
    if_none_match: str | None
    if_match: str | None
    causation: Causation | None

    def new_row(self, now: datetime) -> dict[str, Any]:
        """The object's row as it will be created (the columns of `storage.payloads.COLUMNS`)."""
        return {
            "path": self.path,
            "size": self.size,
            "content_type": self.content_type,
            "etag": self.etag,
            "owner": _owner_of(self.principal),
            "metadata": self.metadata,
            "created_at": now,
            "updated_at": now,
        }

    def allowed(self, operation: str, doc: dict[str, Any], now: datetime) -> bool:
        """Whether the bucket's create or update rule admits this upload, with its real size and type."""
        request = {"size": self.size, "content_type": self.content_type, "data": self.metadata}
        return BUCKET_RULES.allows(
            self.bucket.rules, operation, principal=self.principal, doc=doc, request=request, now=now
        )


def _commit_upload(upload: _Upload, *, seen_free: bool) -> tuple[ObjectPayload, bool]:
    if seen_free and events.can_append_with_write():
        try:
            return _create_in_one_statement(upload)
        except IntegrityError:
            pass  # another upload created the path meanwhile: the transaction below makes this its update
    for attempt in range(2):
        try:
            return _commit_upload_once(upload)
        except IntegrityError:
            # Another upload created the path between our read and our insert: go again, now as
            # an update of what it wrote (and its rules and preconditions).
            if attempt:
                raise
    raise AssertionError("unreachable")


def _create_in_one_statement(upload: _Upload) -> tuple[ObjectPayload, bool]:
    """A new object on PostgreSQL outside a transaction: the journal row taken, the object's row
    and its event written, in one statement (storage/rows.py). The path was free when the upload
    began (its preconditions were checked against that); if it is taken by now the statement
    writes nothing and raises IntegrityError, and the caller commits in a transaction instead."""
    now = timezone.now()
    row = upload.new_row(now)
    if not upload.allowed("create", row, now):
        raise PermissionDenied(UPLOAD_DENIED)
    after = object_payload(row, upload.bucket.name)
    change = events.Change(
        f"storage/{upload.bucket.name}", events.CREATED, upload.path, None, after, upload.principal, upload.causation
    )
    if not rows.create_object_with_event(change, bucket=upload.bucket, key=upload.key, now=now, **_written(row)):
        raise _discarded_upload()
    return after, True


def _written(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of a new row that `rows.insert_object` takes besides bucket, key and time."""
    return {name: row[name] for name in ("path", "size", "content_type", "etag", "owner", "metadata")}


def _discarded_upload() -> Unavailable:
    # The sweep took this upload for abandoned (it ran longer than the grace period).
    return Unavailable("The upload took too long and was discarded; send it again.")


def _commit_upload_once(upload: _Upload) -> tuple[ObjectPayload, bool]:
    now = timezone.now()
    bucket, path, key = upload.bucket, upload.path, upload.key
    with transaction.atomic():
        existing = rows.locked_object(bucket, path)
        _check_preconditions(
            existing,
            if_none_match=upload.if_none_match,
            if_match=upload.if_match,
            principal=upload.principal,
            bucket=bucket,
        )
        operation = "update" if existing else "create"
        row = upload.new_row(now)
        doc = existing.as_rules_doc() if existing is not None else row
        if not upload.allowed(operation, doc, now):
            raise PermissionDenied(UPLOAD_DENIED)
        if not rows.end_journal(key, BlobJournal.UPLOADING):
            raise _discarded_upload()
        before = object_payload(existing, bucket.name) if existing else None
        if existing is not None:
            retired = existing.key
            existing.key, existing.size, existing.etag = key, upload.size, upload.etag
            existing.content_type, existing.metadata, existing.updated_at = (
                upload.content_type,
                upload.metadata,
                now,
            )
            rows.update_object(existing)
            after = object_payload(existing, bucket.name)
            rows.journal(retired, BlobJournal.RETIRED, now)
            transaction.on_commit(lambda: _remove_blob(retired), robust=True)
        else:
            rows.insert_object(bucket=bucket, key=key, now=now, **_written(row))
            after = object_payload(row, bucket.name)
        kind = events.UPDATED if existing else events.CREATED
        topic = f"storage/{bucket.name}"
        events.append(events.Change(topic, kind, path, before, after, upload.principal, upload.causation))
    return after, existing is None


def write_object(
    *,
    principal: Principal,
    bucket: str,
    path: str,
    data: bytes,
    content_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    causation: Causation | None = None,
) -> ObjectPayload:
    """Store `data` at `path` (create or replace); the metadata as the API returns it."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidRequest("data must be bytes.")
    result, _ = upload_object(
        principal=principal,
        bucket=bucket,
        path=path,
        body=io.BytesIO(bytes(data)),
        length=len(data),
        content_type=content_type,
        metadata=metadata,
        causation=causation,
    )
    return result


DELETE_DENIED = "The bucket's delete rule does not allow you to delete this object."


def delete_object(
    *,
    principal: Principal,
    bucket: str,
    path: str,
    if_match: str | None = None,
    causation: Causation | None = None,
) -> None:
    bucket_row = selectors.get_bucket(bucket)
    check_path(path)
    with transaction.atomic():
        obj = StoredObject.objects.select_for_update().filter(bucket=bucket_row, path=path).first()
        if obj is None:  # 404, or the refusal an object it may not read would get
            raise selectors.hidden_object(principal, bucket_row, path, PermissionDenied(DELETE_DENIED))
        if not BUCKET_RULES.allows(bucket_row.rules, "delete", principal=principal, doc=obj.as_rules_doc()):
            if selectors.may_read(principal, bucket_row, obj):
                raise PermissionDenied(DELETE_DENIED)
            raise selectors.hidden_object(principal, bucket_row, path, PermissionDenied(DELETE_DENIED))
        _check_preconditions(obj, if_none_match=None, if_match=if_match, principal=principal, bucket=bucket_row)
        before = object_payload(obj, bucket_row.name)
        retired = obj.key
        obj.delete()
        BlobJournal.objects.create(key=retired, reason=BlobJournal.RETIRED, touched_at=timezone.now())
        transaction.on_commit(lambda: _remove_blob(retired), robust=True)
        events.append(
            events.Change(f"storage/{bucket_row.name}", events.DELETED, path, before, None, principal, causation)
        )


# --- reading objects ----------------------------------------------------------------------------


def open_object(obj: AnyObject, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The bytes of an object the caller was allowed to read (see selectors.access_object)."""
    length = obj.size - start if length is None else length
    return blob_store().read(obj.key, start=start, length=length)


def read_object_bytes(obj: AnyObject, *, start: int, length: int) -> bytes:
    """`length` bytes of an object the caller was allowed to read, from `start`, in one read (for
    small objects: SMALL_OBJECT_BYTES)."""
    return blob_store().read_bytes(obj.key, start=start, length=length) if length > 0 else b""


def read_object(*, principal: Principal, bucket: str, path: str) -> bytes:
    """The whole object in memory (for functions and small objects; views stream instead)."""
    _, obj = selectors.access_object(principal=principal, bucket=bucket, path=path)
    return b"".join(open_object(obj))


def presigned_redirect(obj: AnyObject, *, expires_at: int, disposition: str) -> str | None:
    """An S3 presigned URL for a signed download when STORAGE_S3_REDIRECT_SIGNED is on."""
    if not settings.STORAGE_S3_REDIRECT_SIGNED:
        return None
    expires_in = max(1, expires_at - int(time.time()))
    return blob_store().presigned_url(
        obj.key, expires_in=expires_in, content_type=obj.content_type, disposition=disposition
    )


def sign_url(
    *, principal: Principal, bucket: str, path: str, expires_in: int | None, base_url: str | None = None
) -> str:
    """A GET URL for the object that needs no other credentials until it expires.

    The caller must be allowed to read the object now. Without `base_url` (and without the
    STORAGE_PUBLIC_URL setting) the URL is relative to the API's origin.
    """
    if expires_in is None:
        expires_in = settings.STORAGE_SIGNED_URL_DEFAULT_SECONDS
    maximum = settings.STORAGE_SIGNED_URL_MAX_SECONDS
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= maximum:
        raise field_error("expires_in", "invalid", f"expires_in is a whole number of seconds from 1 to {maximum}.")
    selectors.access_object(principal=principal, bucket=bucket, path=path)
    relative = signing.signed_path(bucket, path, expires_at=int(time.time()) + expires_in)
    base = base_url or settings.STORAGE_PUBLIC_URL
    return f"{base.rstrip('/')}{relative}" if base else relative


# --- orphans ------------------------------------------------------------------------------------


def _remove_blob(key: str) -> None:
    """Delete retired bytes after commit; on failure the journal row stays for the sweep."""
    try:
        blob_store().delete(key)
    except Exception:
        logger.warning("could not delete retired object bytes; the sweep will retry", extra={"key": key}, exc_info=True)
        return
    BlobJournal.objects.filter(key=key).delete()


def _discard_blob(key: str) -> None:
    """Remove the bytes of an upload that did not commit, and its journal row."""
    try:
        blob_store().delete(key)
    except Exception:
        logger.warning(
            "could not delete the bytes of a failed upload; the sweep will", extra={"key": key}, exc_info=True
        )
        return
    try:
        BlobJournal.objects.filter(key=key, reason=BlobJournal.UPLOADING).delete()
    except Exception:
        logger.warning("could not clear the journal of a failed upload", extra={"key": key}, exc_info=True)


def sweep_orphan_blobs(*, grace: timedelta | None = None, batch: int = 500) -> int:
    """Delete bytes no object references: retired keys at once, uploads that never committed
    once they are older than the grace period. Returns how many keys were removed."""
    grace = grace if grace is not None else timedelta(seconds=settings.STORAGE_ORPHAN_GRACE_SECONDS)
    cutoff = timezone.now() - grace
    candidates = list(BlobJournal.objects.filter(reason=BlobJournal.RETIRED).order_by("touched_at")[:batch]) + list(
        BlobJournal.objects.filter(reason=BlobJournal.UPLOADING, touched_at__lt=cutoff).order_by("touched_at")[:batch]
    )
    removed = 0
    store = blob_store()
    for row in candidates:
        # Take the journal row first: an upload that commits concurrently needs that row, so
        # exactly one of the two wins and bytes an object references are never deleted.
        if not BlobJournal.objects.filter(pk=row.pk, touched_at=row.touched_at).delete()[0]:
            continue
        if StoredObject.objects.filter(key=row.key).exists():
            continue
        try:
            store.delete(row.key)
        except Exception:
            logger.warning("sweep could not delete object bytes", extra={"key": row.key}, exc_info=True)
            BlobJournal.objects.create(key=row.key, reason=row.reason, touched_at=row.touched_at)
            continue
        removed += 1
    if removed:
        logger.info("swept orphaned object bytes", extra={"removed": removed})
    return removed


def read_rule_predicate(*, bucket: str) -> Any:
    """For realtime fan-out (other apps call services): see `selectors.read_rule_predicate`."""
    return selectors.read_rule_predicate(bucket=bucket)


def list_readable_objects(*, principal: Principal, bucket: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    """For realtime snapshots (other apps call services): the objects the caller may read, in path
    order after `after`, `limit + 1` at most, each in the API shape. Raises NotFound for an unknown
    bucket."""
    rows = selectors.list_objects(principal=principal, bucket=bucket, prefix="", after=after, limit=limit)
    return [dict(object_payload(row, bucket)) for row in rows]


def check_upload_before_body(*, principal: Principal, bucket: str, path: str, body_length: int | None) -> None:
    """Refuse a multipart upload from its URL and headers, before a byte of its body is read: the
    bucket (404), the path, a Content-Length no object this bucket accepts could need (413), and
    the rules that do not depend on the body (403). upload_object checks all of this again, with
    the file's own size and type, once the body is streamed."""
    bucket_row = selectors.get_bucket(bucket)
    check_path(path)
    limit = _limit_of(bucket_row)
    if body_length is not None and body_length > most_bytes(limit):
        raise TooLarge(
            f"The body is {body_length} bytes; this bucket accepts objects of at most {limit}.",
            details={"max_size": limit},
        )
    if principal.bypasses_rules:
        return
    existing = StoredObject.objects.filter(bucket=bucket_row, path=path).first()
    operation = "update" if existing else "create"
    if BUCKET_RULES.decidable_before_body(bucket_row.rules, operation):
        doc = existing.as_rules_doc() if existing else None
        if not BUCKET_RULES.allows(bucket_row.rules, operation, principal=principal, doc=doc):
            raise PermissionDenied(UPLOAD_DENIED)  # one wording: taken and free paths alike
