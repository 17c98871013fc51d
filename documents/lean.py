"""Hand-written SQL for the hottest reads, where the ORM's query building costs more than the
query itself (about 1 ms of CPU against 0.1 to 0.3 ms; see docs/documents.md, "Performance")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from django.db import connection

from baas.principals import Principal
from baas.rows import aware, json_value, prepared_cursor
from baas.rules.ast import Node
from baas.rules.sql import to_sql
from baas.rules.sqlbase import Sql
from baas.timestamps import rfc3339
from documents import representations
from documents.models import Collection, Document
from documents.representations import DOCUMENT_COLUMNS
from documents.rules import COLLECTION_RULES

if TYPE_CHECKING:
    from auth.services import AccessTokenCheck, ServiceKeyCheck

_DOCUMENT_WITH_COLLECTION = (
    "SELECT d.key, d.owner, d.data, d.version, {created_at}, {updated_at}, c.id, c.rules "
    f'FROM "{Document._meta.db_table}" d JOIN "{Collection._meta.db_table}" c ON c.id = d.collection_id '
    "WHERE c.name = %s AND d.key = %s"
)
# PostgreSQL writes the timestamps as the API does (baas.timestamps: RFC 3339, UTC, microseconds,
# `Z`), sparing a datetime parse and a formatting per timestamp; SQLite's are converted here.
_API_TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _document_with_collection_sql() -> str:
    if connection.vendor == "postgresql":
        return _DOCUMENT_WITH_COLLECTION.format(
            created_at=_API_TIMESTAMP.format("d.created_at"), updated_at=_API_TIMESTAMP.format("d.updated_at")
        )
    return _DOCUMENT_WITH_COLLECTION.format(created_at="d.created_at", updated_at="d.updated_at")


DocumentHit = tuple[dict[str, Any], Collection]


def document_with_collection(collection: str, doc_id: str) -> DocumentHit | None:
    """A document (its API shape, `representations.document`) and its collection's id and rules."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(_document_with_collection_sql(), [collection, doc_id])
        found = cursor.fetchone()
    return None if found is None else _hit(collection, found)


def key_and_document(
    key_check: ServiceKeyCheck | AccessTokenCheck, collection: str, doc_id: str
) -> tuple[Sequence[Any] | None, DocumentHit | None]:
    """`document_with_collection` and the caller's service-key or access-token check in one
    statement: the credential's row (None: no such active key, or the session is not open) and
    the hit."""
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH credential AS ({key_check.sql}) SELECT credential.*, hit.* FROM credential "
            f"LEFT JOIN ({_document_with_collection_sql()}) AS hit ON TRUE",
            [*key_check.params, collection, doc_id],
        )
        found = cursor.fetchone()
    if found is None:
        return None, None
    key_row, document_row = found[: key_check.columns], found[key_check.columns :]
    return key_row, (None if document_row[0] is None else _hit(collection, document_row))


def _hit(collection: str, found: Sequence[Any]) -> DocumentHit:
    key, owner, data, version, created_at, updated_at, collection_id, rules = found
    if not isinstance(created_at, str) or not created_at.endswith("Z"):  # SQLite: not the API's text yet
        created_at, updated_at = rfc3339(aware(created_at)), rfc3339(aware(updated_at))
    doc = {
        "id": key,
        "collection": collection,
        "data": json_value(data),
        "owner": owner,
        "version": version,
        "created_at": created_at,
        "updated_at": updated_at,
    }
    # What a read needs of the collection (its name and rules for the read rule and the refusal),
    # without a model instance: Model.__init__ with its signals was a few percent of a get.
    return doc, cast(Collection, _RulesOf(collection_id, collection, json_value(rules) or {}))


class _RulesOf:
    """A collection's id, name and rules as a document read found them."""

    __slots__ = ("id", "name", "rules")

    def __init__(self, collection_id: int, name: str, rules: dict[str, Any]) -> None:
        self.id, self.name, self.rules = collection_id, name, rules

    @property
    def pk(self) -> int:
        return self.id


_COLLECTION = (
    f'SELECT id, rules, schema, indexes, created_at, updated_at FROM "{Collection._meta.db_table}" WHERE name = %s'
)


def collection_named(name: str) -> Collection | None:
    """The collection as stored now (one query), or None."""
    with connection.cursor() as cursor:
        cursor.execute(_COLLECTION, [name])
        found = cursor.fetchone()
    if found is None:
        return None
    collection_id, rules, schema, indexes, created_at, updated_at = found
    collection = Collection(
        id=collection_id,
        name=name,
        rules=json_value(rules) or {},
        schema=json_value(schema),
        indexes=json_value(indexes) or [],
        created_at=aware(created_at),
        updated_at=aware(updated_at),
    )
    # A row read from the database, as if the ORM had loaded it: save() updates, never inserts.
    collection._state.adding = False
    collection._state.db = connection.alias
    return collection


_INSERT_DOCUMENT = (
    f'INSERT INTO "{Document._meta.db_table}" (collection_id, key, owner, data, version, created_at, updated_at) '
    "VALUES (%s, %s, %s, %s, 1, %s, %s)"
)


def insert_document(*, collection_id: int, key: str, owner: str | None, data: dict[str, Any], now: datetime) -> None:
    moment = connection.ops.adapt_datetimefield_value(now)
    data_param = connection.ops.adapt_json_value(data, None)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_DOCUMENT, [collection_id, key, owner, data_param, moment, moment])


# Collections as last read by this process, for writes that re-check them in their own statement
# (`insert_document_sql`): a change made by any process is noticed by the very next write.
_known_collections: dict[str, Collection] = {}


def known_collection(name: str) -> tuple[Collection | None, bool]:
    """The collection as this process last saw it (no query) when it has seen it, else as stored
    now. Returns it and whether it came from memory, where it may be out of date."""
    known = _known_collections.get(name)
    if known is not None:
        return known, True
    return fresh_collection(name), False


def remembered_collection(name: str) -> Collection | None:
    """The collection as this process last saw it, or None (no query)."""
    return _known_collections.get(name)


def fresh_collection(name: str) -> Collection | None:
    """The collection as stored now, remembered for `known_collection()`."""
    found = collection_named(name)
    if found is None:
        _known_collections.pop(name, None)
    else:
        _known_collections[name] = found
    return found


_INSERT_DOCUMENT_IF_COLLECTION_UNCHANGED = (
    f'INSERT INTO "{Document._meta.db_table}" (collection_id, key, owner, data, version, created_at, updated_at) '
    f'SELECT c.id, %s, %s, %s, 1, %s, %s FROM "{Collection._meta.db_table}" c WHERE c.id = %s AND c.updated_at = %s '
    "RETURNING 1"
)


def insert_document_sql(
    *,
    collection: Collection,
    key: str,
    owner: str | None,
    data: dict[str, Any],
    now: datetime,
    credential_condition: tuple[str, Sequence[Any]] | None = None,
) -> tuple[str, list[Any]]:
    """An INSERT … RETURNING of a new document that inserts nothing when the collection's row is no
    longer the one given (changed rules, schema or indexes, or deleted): every change of a
    collection moves its `updated_at`. `credential_condition`: SQL over a `credential` CTE of the
    same statement (auth/remembered.py) that must hold too, with its parameters."""
    ops = connection.ops  # (one look-up of the thread's connection)
    moment = ops.adapt_datetimefield_value(now)
    data_param = ops.adapt_json_value(data, None)
    sql = _INSERT_DOCUMENT_IF_COLLECTION_UNCHANGED
    params = [key, owner, data_param, moment, moment, collection.pk, collection.updated_at]
    if credential_condition is not None:
        condition, condition_params = credential_condition
        sql = sql.replace(" RETURNING 1", f" AND EXISTS (SELECT 1 FROM credential WHERE {condition}) RETURNING 1")
        params.extend(condition_params)
    return sql, params


# --- lists and counts: the read rule and the client's filter compiled by the rules compiler's SQL
# dialect (baas.rules.sql.to_sql) into one prepared statement, instead of the ORM's query building
# (most of a list's CPU). The statement also checks, in the same snapshot, that the collection row
# is still the one whose rules were compiled (`known_collection`: no query to read it first).

_DOCUMENTS = f'"{Document._meta.db_table}"'
_DATA = Sql(f'{_DOCUMENTS}."data"')
_OWN_COLUMNS = {name: Sql(f'{_DOCUMENTS}."{column}"') for name, column in COLLECTION_RULES.own_columns.items()}  # type: ignore[union-attr]
_COLLECTION_UNCHANGED = f'EXISTS (SELECT 1 FROM "{Collection._meta.db_table}" c WHERE c.id = %s AND c.updated_at = %s)'
_PAGE_COLUMNS = ", ".join(f'{_DOCUMENTS}."{column}"' for column in DOCUMENT_COLUMNS)
# On PostgreSQL a page's timestamps arrive as the API's text too (_API_TIMESTAMP).
_PAGE_COLUMNS_POSTGRES = ", ".join(
    _API_TIMESTAMP.format(f'{_DOCUMENTS}."{column}"')
    if column in ("created_at", "updated_at")
    else f'{_DOCUMENTS}."{column}"'
    for column in DOCUMENT_COLUMNS
)


def readable_condition(
    collection: Collection, principal: Principal, filter_node: Node | None, now: datetime
) -> tuple[str, list[Any]]:
    """The WHERE condition of the collection's documents this caller may read and the filter
    selects, checking that the collection row is unchanged (false, so no row, when it changed)."""
    auth = principal.rules_context()
    # The collection's id as a literal, not a parameter: the field indexes are partial (`WHERE
    # collection_id = N`, documents/indexes.py), and only a statement that names N can use one in
    # the generic plan PostgreSQL keeps for a prepared statement; a parameter had it planned anew
    # (a custom plan) on every execution, which cost more than running it.
    parts = [Sql(f'{_DOCUMENTS}."collection_id" = {int(collection.pk)}')]
    rule = COLLECTION_RULES.read_condition(collection.rules, principal=principal)
    if rule is not None:
        parts.append(to_sql(rule, connection, data=_DATA, own_columns=_OWN_COLUMNS, auth=auth, now=now))
    if filter_node is not None:
        parts.append(to_sql(filter_node, connection, data=_DATA, own_columns=_OWN_COLUMNS, auth=auth, now=now))
    parts.append(
        Sql(_COLLECTION_UNCHANGED, (collection.pk, connection.ops.adapt_datetimefield_value(collection.updated_at)))
    )
    text = " AND ".join(part.text for part in parts)
    return text, [param for part in parts for param in part.params]


def page_statement(
    collection: Collection,
    principal: Principal,
    filter_node: Node | None,
    now: datetime,
    *,
    after_key: str | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The statement (and its parameters) of up to `limit` documents `principal` may read that
    the filter selects, in id order, after `after_key` when given; for `document_page` or
    `key_and_page`."""
    condition, params = readable_condition(collection, principal, filter_node, now)
    if after_key is not None:
        condition += f' AND {_DOCUMENTS}."key" > %s'
        params.append(after_key)
    columns = _PAGE_COLUMNS_POSTGRES if connection.vendor == "postgresql" else _PAGE_COLUMNS
    # The limit as a literal too: a generic plan has to guess a parameter's (a tenth of the rows),
    # and could then prefer walking the collection in key order to using the filter's index.
    statement = f'SELECT {columns} FROM {_DOCUMENTS} WHERE {condition} ORDER BY {_DOCUMENTS}."key" LIMIT {int(limit)}'
    return statement, params


def document_page(page: tuple[str, list[Any]], collection_name: str) -> list[dict[str, Any]]:
    """The documents of a `page_statement` (in their API shape, `representations.document`): one
    prepared statement."""
    statement, params = page
    with prepared_cursor(connection) as cursor:
        cursor.execute(statement, params)
        found = cursor.fetchall()
    return _page_documents(found, collection_name)


def key_and_page(
    key_check: ServiceKeyCheck | AccessTokenCheck, page: tuple[str, list[Any]], collection_name: str
) -> tuple[Sequence[Any] | None, list[dict[str, Any]]]:
    """`document_page` and the caller's service-key or access-token check in one statement: the
    credential's row (None: no such active key, or the session is not open) and the page. The
    page is the one the principal it was made for may read: the caller's to keep only when the
    row still gives that principal."""
    statement, params = page
    columns = key_check.columns
    # The check's row first, then the page's rows, each with the other's columns NULL: a join would
    # repeat (and the driver convert again) the credential's columns on every document.
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH credential AS ({key_check.sql}) "
            f"SELECT 0, credential.*, {_nulls(len(DOCUMENT_COLUMNS))} FROM credential "
            f"UNION ALL SELECT 1, {_nulls(columns)}, page.* FROM ({statement}) AS page "
            f"ORDER BY 1, {columns + 2}",
            [*key_check.params, *params],
        )
        found = cursor.fetchall()
    if not found or found[0][0] != 0:
        return None, []
    return found[0][1 : columns + 1], _page_documents([row[columns + 1 :] for row in found[1:]], collection_name)


@cache
def _nulls(count: int) -> str:
    return ", ".join(["NULL"] * count)


def _page_documents(found: Sequence[Sequence[Any]], name: str) -> list[dict[str, Any]]:
    """A page's rows (DOCUMENT_COLUMNS) in the API's shape."""
    if connection.vendor == "postgresql":  # the timestamps arrive as the API's text already
        return [
            {
                "id": key,
                "collection": name,
                "data": json_value(data),
                "owner": owner,
                "version": version,
                "created_at": created_at,
                "updated_at": updated_at,
            }
            for key, owner, data, version, created_at, updated_at in found
        ]
    return [
        representations.document(
            {
                "key": key,
                "owner": owner,
                "data": json_value(data),
                "version": version,
                "created_at": aware(created_at),
                "updated_at": aware(updated_at),
            },
            name,
        )
        for key, owner, data, version, created_at, updated_at in found
    ]


def document_count(collection: Collection, principal: Principal, filter_node: Node | None, now: datetime) -> int:
    condition, params = readable_condition(collection, principal, filter_node, now)
    with prepared_cursor(connection) as cursor:
        cursor.execute(f"SELECT count(*) FROM {_DOCUMENTS} WHERE {condition}", params)
        (count,) = cursor.fetchone()
    return int(count)


def key_and_count(
    key_check: ServiceKeyCheck | AccessTokenCheck,
    collection: Collection,
    principal: Principal,
    filter_node: Node | None,
    now: datetime,
) -> tuple[Sequence[Any] | None, int]:
    """`document_count` for `principal` and the caller's credential check in one statement, as
    `key_and_page`: the credential's row (None: refused) and the count."""
    condition, params = readable_condition(collection, principal, filter_node, now)
    with prepared_cursor(connection) as cursor:
        cursor.execute(
            f"WITH credential AS ({key_check.sql}) SELECT credential.*, "
            f"(SELECT count(*) FROM {_DOCUMENTS} WHERE {condition}) FROM credential",
            [*key_check.params, *params],
        )
        found = cursor.fetchone()
    if found is None:
        return None, 0
    return found[: key_check.columns], int(found[key_check.columns])
