"""Declared indexes → real expression indexes on the documents table, one set per collection.

Each index is partial (`WHERE collection_id = <id>`), so it holds only its collection's rows and
the planner picks it for queries that name the collection. Data fields are indexed by the same
expressions the rules compiler emits for comparisons (`data -> 'f'` on PostgreSQL,
`json_extract(data, '$.f')` on SQLite), so filters such as `?filter=tag == "x"` use them. On
PostgreSQL indexes are built and dropped CONCURRENTLY, so writes continue meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import DatabaseError, connection, transaction

from baas.errors import Conflict, ValidationFailed, field_error, refuse_unknown_fields
from baas.rules import sql_postgres, sql_sqlite
from documents.errors import DocumentsCode
from documents.models import Collection, Document
from documents.validation import FIELD_SEGMENT

logger = logging.getLogger("baas.documents.indexes")

MAX_INDEXES = 8
MAX_FIELDS = 4
OWN_INDEX_COLUMNS = {
    "$id": "key",
    "$owner": "owner",
    "$created_at": "created_at",
    "$updated_at": "updated_at",
    "$version": "version",
}


def _invalid(message: str) -> ValidationFailed:
    return field_error("indexes", DocumentsCode.INVALID, message)


def check_specs(specs: Any) -> list[dict[str, Any]]:
    """`[{"fields": ["tag", "-$created_at"], "unique": false}, …]`, normalized."""
    if specs is None:
        return []
    if not isinstance(specs, list) or len(specs) > MAX_INDEXES:
        raise _invalid(f"indexes is a list of at most {MAX_INDEXES} index definitions.")
    normalized = []
    for position, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise _invalid('Each index is {"fields": [...], "unique": false}.')
        refuse_unknown_fields(spec, ("fields", "unique"), prefix=f"indexes.{position}")
        fields = spec.get("fields")
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
            raise _invalid(f"An index has 1 to {MAX_FIELDS} fields.")
        for field in fields:
            _column_sql(field, "postgresql")  # validates
        unique = spec.get("unique", False)
        if not isinstance(unique, bool):
            raise _invalid("unique is true or false.")
        entry = {"fields": list(fields), "unique": unique}
        if entry not in normalized:
            normalized.append(entry)
    return normalized


def _column_sql(field: Any, vendor: str) -> str:
    if not isinstance(field, str) or not field or field == "-":
        raise _invalid("An index field is a data field path or an own field such as $created_at.")
    descending = field.startswith("-")
    name = field[1:] if descending else field
    if name.startswith("$"):
        column = OWN_INDEX_COLUMNS.get(name)
        if column is None:
            raise _invalid(f"{name} is not an own field; use one of {', '.join(OWN_INDEX_COLUMNS)}.")
        text = f'"{column}"'
    else:
        path = name.split(".")
        if len(path) > 8 or not all(FIELD_SEGMENT.match(segment) for segment in path):
            raise _invalid(f"{name!r} is not a field path: use names of letters, digits and '_' joined by dots.")
        # The literals the rules compiler writes in queries, so that the index matches them.
        if vendor == "postgresql":
            operator = " -> " if len(path) == 1 else " #> "
            text = f'("data"{operator}{sql_postgres.path_literal(tuple(path)).text})'
        else:
            text = f'json_extract("data", {sql_sqlite.path_literal(tuple(path)).text})'
    return text + (" DESC" if descending else "")


def index_name(collection: Collection, spec: dict[str, Any], suffix: str = "") -> str:
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return f"doc_ix_{collection.pk}_{digest}{suffix}"


def _statements(collection: Collection, spec: dict[str, Any], vendor: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) for one declared index; more than one on PostgreSQL for text ranges."""
    table = Document._meta.db_table
    columns = ", ".join(_column_sql(field, vendor) for field in spec["fields"])
    if vendor == "sqlite":
        # Without statistics SQLite rates "collection_id = ?" above a range on an expression; with
        # the collection as the first column, one index serves both.
        columns = f'"collection_id", {columns}'

    unique = "UNIQUE " if spec["unique"] else ""
    concurrently = "CONCURRENTLY " if vendor == "postgresql" and not connection.in_atomic_block else ""
    where = f"WHERE collection_id = {int(collection.pk)}"
    name = index_name(collection, spec)
    statements = [(name, f'CREATE {unique}INDEX {concurrently}IF NOT EXISTS "{name}" ON "{table}" ({columns}) {where}')]
    field = spec["fields"][0]
    if vendor == "postgresql" and len(spec["fields"]) == 1 and not field.lstrip("-").startswith("$"):
        # String ranges compare `data ->> 'f'` in code point order; this index serves them.
        path = field.lstrip("-").split(".")
        operator = " ->> " if len(path) == 1 else " #>> "
        text = f'("data"{operator}{sql_postgres.path_literal(tuple(path)).text})'
        text_name = index_name(collection, spec, "_t")
        statements.append(
            (
                text_name,
                f'CREATE INDEX {concurrently}IF NOT EXISTS "{text_name}" ON "{table}" (({text} COLLATE "C")) {where}',
            )
        )
    return statements


def _execute(statement: str) -> None:
    # Inside a transaction (a batch of DDL in tests), a savepoint keeps a failure from aborting it.
    if connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # PostgreSQL refuses DDL on a table with deferred foreign-key checks pending (rows
                # written earlier in the same transaction): run those checks now, then defer again.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(statement)
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            else:
                cursor.execute(statement)
        return
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _drop(name: str) -> None:
    concurrently = "CONCURRENTLY " if connection.vendor == "postgresql" and not connection.in_atomic_block else ""
    _execute(f'DROP INDEX {concurrently}IF EXISTS "{name}"')


def sync(collection: Collection, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Create the indexes in `new` that are not in `old`, then drop those no longer declared.

    A unique index that existing documents violate is refused with 409 and leaves nothing behind.
    """
    vendor = connection.vendor
    for spec in new:
        if spec in old:
            continue
        for name, statement in _statements(collection, spec, vendor):
            try:
                _execute(statement)
            except DatabaseError as exc:
                _drop(name)  # a failed CONCURRENTLY build leaves an invalid index behind
                if spec["unique"]:
                    raise Conflict(
                        "Existing documents hold duplicate values, so this unique index cannot be built.",
                        details={"index": spec},
                    ) from None
                logger.exception("building index %s failed", name)
                raise exc
            logger.info("built index", extra={"index": name, "collection": collection.name})
    for spec in old:
        if spec not in new:
            for name, _ in _statements(collection, spec, vendor):
                _drop(name)


def build_states(collection: Collection) -> list[dict[str, Any]]:
    """Each declared index with its build state in the database: "ready" (usable), "building"
    (PostgreSQL is still building it concurrently, or the build failed and left it invalid), or
    "missing" (not in the database)."""
    vendor = connection.vendor
    declared = [
        (spec, [name for name, _ in _statements(collection, spec, vendor)]) for spec in collection.indexes or []
    ]
    names = [name for _, spec_names in declared for name in spec_names]
    found: dict[str, bool] = {}
    if names:
        marks = ", ".join(["%s"] * len(names))
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute(
                    "SELECT c.relname, i.indisvalid AND i.indisready FROM pg_class c "
                    f"JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname IN ({marks})",
                    names,
                )
                found = {name: bool(valid) for name, valid in cursor.fetchall()}
            else:
                cursor.execute(f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ({marks})", names)
                found = {name: True for (name,) in cursor.fetchall()}
    states = []
    for spec, spec_names in declared:
        if not all(name in found for name in spec_names):
            state = "missing"
        elif all(found[name] for name in spec_names):
            state = "ready"
        else:
            state = "building"
        states.append({**spec, "state": state})
    return states
