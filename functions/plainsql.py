"""Model instances from plain SQL rows, as the ORM builds them (the database's and the fields'
converters applied: JSON, and on SQLite UUIDs and datetimes), without the ORM's query building.

For the few statements that run on every invocation: compiling an ORM query, or going through a
RawQuerySet, cost several times the CPU of the statement itself (issue #19).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.base import DEFERRED

M = TypeVar("M", bound=Model)

# (model, vendor) → column name → (field, its column expression, converters)
_Columns = dict[str, tuple[Any, Any, list[Callable[..., Any]]]]
_COLUMNS: dict[tuple[type[Model], str], _Columns] = {}


def fetch_one(model: type[M], sql: str, params: Sequence[Any]) -> M | None:
    """The first row of `sql` as a `model` instance (None without one). Columns of the model's
    table fill its fields (any left out are deferred); any other column becomes an attribute of
    that name, as the database returned it."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        names = [column[0] for column in cursor.description] if row is not None else []
    return None if row is None else instance(model, names, row)


def instance(model: type[M], names: Sequence[str], row: Sequence[Any]) -> M:
    columns = _columns(model)
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        found = columns.get(name)
        if found is None:
            extras[name] = value
            continue
        field, expression, converters = found
        for convert in converters:
            value = convert(value, expression, connection)
        values[field.attname] = value
    fields = model._meta.concrete_fields
    ordered = [values.get(field.attname, DEFERRED) for field in fields]
    built = model.from_db(connection.alias, [field.attname for field in fields], ordered)
    for name, value in extras.items():
        setattr(built, name, value)
    return built


def column(field: Any) -> str:
    """A concrete field's column name (Django types it optional: only concrete fields have one)."""
    name: str = field.column
    return name


def _columns(model: type[Model]) -> _Columns:
    key = (model, connection.vendor)
    found = _COLUMNS.get(key)
    if found is None:
        found = {}
        for field in model._meta.concrete_fields:
            expression = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
            found[column(field)] = (field, expression, converters)
        _COLUMNS[key] = found
    return found


def insert(instance: Model) -> None:
    """INSERT a new instance's row, its values prepared as `save()` prepares them (defaults are
    set by the constructor, `auto_now_add` here), in one plain statement. No model signals are
    sent (none are connected to the models this is used for)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy costs a lookup
    key = (type(instance), db.vendor)
    found = _INSERTS.get(key)
    if found is None:
        meta, quote = instance._meta, db.ops.quote_name
        fields = [field for field in meta.concrete_fields if not field.generated]
        columns = ", ".join(quote(column(field)) for field in fields)
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
        _INSERTS[key] = found = (sql, fields)
    sql, fields = found
    values = [field.get_db_prep_save(field.pre_save(instance, True), db) for field in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
    instance._state.adding = False
    instance._state.db = db.alias


_INSERTS: dict[tuple[type[Model], str], tuple[str, list[Any]]] = {}
