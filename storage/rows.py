"""Hand-written SQL for the statements every object request runs: the bucket and the object at a
path in one statement, prepared (PostgreSQL), instead of the ORM's two queries built anew each
time (the ORM's query building cost more CPU than the queries; docs/storage.md, "Performance")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db import connection, models

from baas import events
from baas.principals import Principal
from baas.rows import aware, json_value, prepared_cursor
from storage.models import BlobJournal, Bucket, StoredObject


class KeyCheck(Protocol):
    """What auth's ServiceKeyCheck and AccessTokenCheck offer: a SELECT of `columns` columns
    giving one row when the credential is valid."""

    sql: str
    params: list[Any]
    columns: int

    def principal(self, row: Sequence[Any]) -> Principal: ...


def _columns(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    """What a raw value of this column needs to become what the ORM would have loaded."""
    if isinstance(field, models.JSONField):
        return json_value
    if isinstance(field, models.DateTimeField):
        return aware
    if isinstance(field, models.BooleanField):
        return bool
    return None


_BUCKET_FIELDS = _columns(Bucket)
_OBJECT_FIELDS = _columns(StoredObject)
_NAMES: dict[type[models.Model], list[str]] = {
    model: [f.attname for f in _columns(model)] for model in (Bucket, StoredObject)
}
_BUCKET_CONVERTERS = [_converter(field) for field in _BUCKET_FIELDS]
_OBJECT_CONVERTERS = [_converter(field) for field in _OBJECT_FIELDS]
_BUCKET_AND_OBJECT = (
    "SELECT "
    # Named apart (both tables have "id", …) so that the statement can also be a subquery.
    + ", ".join(
        [
            *(f'b."{f.column}" AS "b_{f.column}"' for f in _BUCKET_FIELDS),
            *(f'o."{f.column}" AS "o_{f.column}"' for f in _OBJECT_FIELDS),
        ]
    )
    + f' FROM "{Bucket._meta.db_table}" b LEFT JOIN "{StoredObject._meta.db_table}" o'
    + ' ON o."bucket_id" = b."id" AND o."path" = %s WHERE b."name" = %s'
)


def _model(model: type[models.Model], converters: list[Any], values: Sequence[Any]) -> Any:
    """The model instance the ORM would have loaded from these values (every concrete column)."""
    pairs = zip(converters, values, strict=True)
    loaded = [value if convert is None or value is None else convert(value) for convert, value in pairs]
    return model.from_db(connection.alias, _NAMES[model], loaded)


def bucket_and_object(bucket: str, path: str) -> tuple[Bucket | None, StoredObject | None]:
    """The bucket named `bucket` (None: there is none) and its object at `path` (None: none there),
    in one statement; the object's `bucket` is the bucket returned."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_BUCKET_AND_OBJECT, [path, bucket])
        found = cursor.fetchone()
    return _bucket_and_object(found)


def bucket_and_object_checking_key(
    key_check: KeyCheck, bucket: str, path: str
) -> tuple[Sequence[Any] | None, Bucket | None, StoredObject | None]:
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
    return (key_row, *_bucket_and_object(None if rest[0] is None else rest))


def _bucket_and_object(found: Sequence[Any] | None) -> tuple[Bucket | None, StoredObject | None]:
    if found is None:
        return None, None
    split = len(_BUCKET_FIELDS)
    bucket_row: Bucket = _model(Bucket, _BUCKET_CONVERTERS, found[:split])
    if found[split] is None:
        return bucket_row, None
    obj: StoredObject = _model(StoredObject, _OBJECT_CONVERTERS, found[split:])
    obj.bucket = bucket_row
    return bucket_row, obj


_OBJECT_AT = (
    "SELECT "
    + ", ".join(f'"{f.column}"' for f in _OBJECT_FIELDS)
    + f' FROM "{StoredObject._meta.db_table}" WHERE "bucket_id" = %s AND "path" = %s'
)
_JOURNAL = BlobJournal._meta.db_table
_JOURNAL_ADD = f'INSERT INTO "{_JOURNAL}" ("key", "reason", "touched_at") VALUES (%s, %s, %s)'
_JOURNAL_END = f'DELETE FROM "{_JOURNAL}" WHERE "key" = %s AND "reason" = %s'


def locked_object(bucket: Bucket, path: str) -> StoredObject | None:
    """The object at `path`, its row locked until the transaction ends (where the database can)."""
    sql = _OBJECT_AT + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, [bucket.pk, path])
        found = cursor.fetchone()
    if found is None:
        return None
    obj: StoredObject = _model(StoredObject, _OBJECT_CONVERTERS, found)
    obj.bucket = bucket
    return obj


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

_OBJECTS = StoredObject._meta.db_table
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
    bucket: Bucket,
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
    bucket: Bucket,
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
