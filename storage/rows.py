"""Hand-written SQL for the statements every object request runs: the bucket and the object at a
path in one statement, prepared (PostgreSQL), instead of the ORM's two queries built anew each
time (the ORM's query building cost more CPU than the queries; docs/storage.md, "Performance")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from django.db import connection

from baas import events
from baas.principals import Principal
from baas.rows import aware, json_value, prepared_cursor
from storage.models import BlobJournal, Bucket, StoredObject


class KeyCheck(Protocol):
    """What auth's ServiceKeyCheck and AccessTokenCheck offer: a SELECT of `columns` columns
    giving one row when the credential is valid."""

    @property
    def sql(self) -> str: ...

    @property
    def params(self) -> list[Any]: ...

    @property
    def columns(self) -> int: ...

    def principal(self, row: Sequence[Any]) -> Principal: ...


class BucketRow:
    """A bucket as the object routes use it, read by hand: its id, name and settings (not its
    timestamps). Read-only: its JSON values may be shared with other rows of the same bucket."""

    __slots__ = ("allowed_types", "max_size", "name", "pk", "public", "rules")

    def __init__(
        self, pk: int, name: str, public: bool, max_size: int | None, allowed_types: list[str], rules: dict[str, Any]
    ) -> None:
        self.pk, self.name, self.public, self.max_size = pk, name, public, max_size
        self.allowed_types, self.rules = allowed_types, rules

    @property
    def id(self) -> int:
        return self.pk


class ObjectRow:
    """An object's row as the object routes use it (every column but the bucket's id)."""

    __slots__ = ("content_type", "created_at", "etag", "key", "metadata", "owner", "path", "pk", "size", "updated_at")

    def __init__(
        self,
        pk: int,
        path: str,
        key: str,
        size: int,
        content_type: str,
        etag: str,
        owner: str | None,
        metadata: dict[str, Any],
        created_at: datetime,
        updated_at: datetime,
    ) -> None:
        self.pk, self.path, self.key, self.size, self.content_type = pk, path, key, size, content_type
        self.etag, self.owner, self.metadata, self.created_at, self.updated_at = (
            etag,
            owner,
            metadata,
            created_at,
            updated_at,
        )

    @property
    def id(self) -> int:
        return self.pk

    def as_rules_doc(self) -> dict[str, Any]:
        """The shape the rules predicate reads (as `StoredObject.as_rules_doc`)."""
        return {
            "path": self.path,
            "owner": self.owner,
            "size": self.size,
            "content_type": self.content_type,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "metadata": self.metadata,
        }


# What the object routes accept of a bucket or an object: the model, or the row read by hand.
AnyBucket = Bucket | BucketRow
AnyObject = StoredObject | ObjectRow


@lru_cache(maxsize=512)
def _bucket_json(text: str | bytes) -> Any:
    """A bucket's JSON column (rules, allowed types), parsed once per distinct value: every object
    request of a bucket reads the same text."""
    return json_value(text)


_BUCKETS = Bucket._meta.db_table
_OBJECTS = StoredObject._meta.db_table
_OBJECT_COLUMNS = ["id", "path", "key", "size", "content_type", "etag", "owner", "metadata", "created_at", "updated_at"]
_BUCKET_AND_OBJECT = (
    'SELECT b."id" AS "b_id", b."public", b."max_size", b."allowed_types", b."rules", '
    # Named apart from the bucket's (both tables have "id"), so that it can also be a subquery.
    + ", ".join(f'o."{column}" AS "o_{column}"' for column in _OBJECT_COLUMNS)
    + f' FROM "{_BUCKETS}" b LEFT JOIN "{_OBJECTS}" o ON o."bucket_id" = b."id" AND o."path" = %s'
    + ' WHERE b."name" = %s'
)
_BUCKET_COLUMNS = 5


def bucket_and_object(bucket: str, path: str) -> tuple[BucketRow | None, ObjectRow | None]:
    """The bucket named `bucket` (None: there is none) and its object at `path` (None: none there),
    in one statement."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_BUCKET_AND_OBJECT, [path, bucket])
        found = cursor.fetchone()
    return _bucket_and_object(bucket, found)


def bucket_and_object_checking_key(
    key_check: KeyCheck, bucket: str, path: str
) -> tuple[Sequence[Any] | None, BucketRow | None, ObjectRow | None]:
    """`bucket_and_object` and the caller's service-key or access-token check (auth's
    `ServiceKeyCheck`/`AccessTokenCheck`) in one statement: the credential's row (None: no such
    active key, or the token's session is not open; then nothing else is read) and the rows."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH credential AS ({key_check.sql}) SELECT credential.*, hit.* FROM credential "
            f"LEFT JOIN ({_BUCKET_AND_OBJECT}) AS hit ON TRUE",
            [*key_check.params, path, bucket],
        )
        found = cursor.fetchone()
    if found is None:
        return None, None, None
    key_row, rest = found[: key_check.columns], found[key_check.columns :]
    return (key_row, *_bucket_and_object(bucket, None if rest[0] is None else rest))


def _bucket_and_object(name: str, found: Sequence[Any] | None) -> tuple[BucketRow | None, ObjectRow | None]:
    if found is None:
        return None, None
    pk, public, max_size, allowed_types, rules = found[:_BUCKET_COLUMNS]
    bucket_row = BucketRow(
        pk, name, bool(public), max_size, _bucket_json(allowed_types) or [], _bucket_json(rules) or {}
    )
    return bucket_row, (None if found[_BUCKET_COLUMNS] is None else _object(found[_BUCKET_COLUMNS:]))


def _object(values: Sequence[Any]) -> ObjectRow:
    pk, path, key, size, content_type, etag, owner, metadata, created_at, updated_at = values
    return ObjectRow(
        pk, path, key, size, content_type, etag, owner, json_value(metadata), aware(created_at), aware(updated_at)
    )


_OBJECT_AT = (
    "SELECT "
    + ", ".join(f'"{column}"' for column in _OBJECT_COLUMNS)
    + f' FROM "{_OBJECTS}" WHERE "bucket_id" = %s AND "path" = %s'
)
_JOURNAL = BlobJournal._meta.db_table
_JOURNAL_ADD = f'INSERT INTO "{_JOURNAL}" ("key", "reason", "touched_at") VALUES (%s, %s, %s)'
_JOURNAL_END = f'DELETE FROM "{_JOURNAL}" WHERE "key" = %s AND "reason" = %s'


def locked_object(bucket: BucketRow, path: str) -> ObjectRow | None:
    """The object at `path`, its row locked until the transaction ends (where the database can)."""
    sql = _OBJECT_AT + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [bucket.pk, path])
        found = cursor.fetchone()
    return None if found is None else _object(found)


def journal(key: str, reason: str, now: datetime) -> None:
    """A BlobJournal row for `key` (what `BlobJournal.objects.create` writes)."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_JOURNAL_ADD, [key, reason, connection.ops.adapt_datetimefield_value(now)])


def end_journal(key: str, reason: str) -> bool:
    """Remove the journal row of `key` with this reason; whether there was one."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_JOURNAL_END, [key, reason])
        return cursor.rowcount == 1


# --- writing an object's row (instead of the ORM's model save: no instance, no query building) ---

_INSERTED = ["bucket_id", "path", "key", "size", "content_type", "etag", "owner", "metadata"]
_INSERTED += ["created_at", "updated_at"]
_INSERT_COLUMNS = ", ".join(f'"{name}"' for name in _INSERTED)
_INSERT_OBJECT = f'INSERT INTO "{_OBJECTS}" ({_INSERT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)'
# The same insert, of a row only when the upload's journal row could be taken: for
# events.append_with_write, after the prelude `_TAKE_JOURNAL` in the same statement.
_TAKE_JOURNAL = f'taken AS (DELETE FROM "{_JOURNAL}" WHERE "key" = %s AND "reason" = %s RETURNING "key")'
_INSERT_OBJECT_IF_TAKEN = (
    f'INSERT INTO "{_OBJECTS}" ({_INSERT_COLUMNS}) '
    "SELECT %s, %s, taken.key, %s, %s, %s, %s, %s, %s, %s FROM taken RETURNING 1"
)


def _object_values(
    *, size: int, content_type: str, etag: str, owner: str | None, metadata: Any, now: datetime
) -> list[Any]:
    moment = connection.ops.adapt_datetimefield_value(now)
    return [size, content_type, etag, owner, connection.ops.adapt_json_value(metadata, None), moment, moment]


def insert_object(
    *,
    bucket: BucketRow,
    path: str,
    key: str,
    size: int,
    content_type: str,
    etag: str,
    owner: str | None,
    metadata: Any,
    now: datetime,
) -> None:
    """The row of a new object (what `StoredObject.objects.create` writes)."""
    values = _object_values(size=size, content_type=content_type, etag=etag, owner=owner, metadata=metadata, now=now)
    with prepared_cursor(connection) as cursor:
        cursor.execute(_INSERT_OBJECT, [bucket.pk, path, key, *values])


def create_object_with_event(
    change: events.Change,
    *,
    bucket: BucketRow,
    path: str,
    key: str,
    size: int,
    content_type: str,
    etag: str,
    owner: str | None,
    metadata: Any,
    now: datetime,
) -> bool:
    """On PostgreSQL outside a transaction (`events.can_append_with_write()`): the upload's
    journal row taken, the object's row inserted and its event appended, in one statement — all
    of it or nothing. False when the journal row was gone (the sweep took the upload for
    abandoned): nothing written. Raises IntegrityError when a row exists at the path already."""
    values = _object_values(size=size, content_type=content_type, etag=etag, owner=owner, metadata=metadata, now=now)
    recorded = events.append_with_write(
        _INSERT_OBJECT_IF_TAKEN,
        [bucket.pk, path, *values],
        change,
        prelude=_TAKE_JOURNAL,
        prelude_params=[key, BlobJournal.UPLOADING],
    )
    return recorded is not None


_UPDATE_OBJECT = (
    f'UPDATE "{_OBJECTS}" SET "key" = %s, "size" = %s, "content_type" = %s, "etag" = %s, "metadata" = %s, '
    '"updated_at" = %s WHERE "id" = %s'
)


def update_object(obj: ObjectRow) -> None:
    """Write back what an overwrite changes in the row (bytes' key, size, type, ETag, metadata,
    time): what `obj.save(update_fields=…)` would write."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            _UPDATE_OBJECT,
            [
                obj.key,
                obj.size,
                obj.content_type,
                obj.etag,
                connection.ops.adapt_json_value(obj.metadata, None),
                connection.ops.adapt_datetimefield_value(obj.updated_at),
                obj.pk,
            ],
        )
