"""Hand-written SQL for the statements every object request runs: the bucket and the object at a
path in one statement, prepared (PostgreSQL), instead of the ORM's two queries built anew each
time (the ORM's query building cost more CPU than the queries; docs/storage.md, "Performance")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

from baas.rows import aware, json_value, prepared_cursor
from storage.models import BlobJournal, Bucket, StoredObject


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
    + ", ".join([*(f'b."{f.column}"' for f in _BUCKET_FIELDS), *(f'o."{f.column}"' for f in _OBJECT_FIELDS)])
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
