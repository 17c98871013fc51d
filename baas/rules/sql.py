"""Syntax tree → Django `Q` (or plain SQL), filtered inside the database (SQLite or PostgreSQL).

`to_q` binds `auth`, `request` and `now` as constants and folds what they decide (so
`auth != null && …` disappears for a signed-in caller). The rest becomes one boolean expression
over the model's JSON column and own columns; its SQL is chosen for the connection the query runs
on, when Django compiles it. `to_sql` gives the same condition as SQL text and parameters for a
hand-written statement (the lean list path of documents), without the ORM's query building. This
is the only module of the package that imports Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Expression, F, Q
from django.db.models.sql.compiler import SQLCompiler
from django.db.utils import NotSupportedError

from baas.rules.ast import Const, Node, Own, walk
from baas.rules.predicate import bind
from baas.rules.sql_postgres import PostgresDialect
from baas.rules.sql_sqlite import JSON_EQUAL_FUNCTION, SqliteDialect, json_equal
from baas.rules.sqlbase import FALSE, TRUE, Sql

DOCUMENT_COLUMNS = {
    "id": "id",
    "owner": "owner",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "version": "version",
}


def to_q(
    node: Node,
    *,
    data_field: str = "data",
    own_columns: Mapping[str, str] | None = None,
    auth: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> Q:
    """A `Q` selecting exactly the rows whose document the predicate of `node` accepts.

    `data_field` names the model's JSONField holding `data`; `own_columns` maps own field names
    (without `$`) to model field names (default: the same names). Pass the same `auth`, `request`
    and `now` the predicate would get.
    """
    bound = bind(node, auth=auth, request=request, now=now)
    if isinstance(bound, Const) and bound.value is not True:
        return Q(pk__in=[])  # Django answers this without a query
    # (Always true stays an expression, `(1 = 1)`, rather than Q(): `~Q()` would match every row.)
    columns = dict(own_columns or {})
    used = {item.name for item in walk(bound) if isinstance(item, Own)}
    return Q(RulesCondition(bound, data_field, {name: columns.get(name, name) for name in sorted(used)}))


def to_sql(
    node: Node,
    connection: BaseDatabaseWrapper,
    *,
    data: Sql,
    own_columns: Mapping[str, Sql],
    auth: Mapping[str, Any] | None = None,
    request: Mapping[str, Any] | None = None,
    now: datetime | str | None = None,
) -> Sql:
    """The condition `to_q` would filter by, as SQL for `connection` (`%s` placeholders): `data`
    is the JSON column's reference, `own_columns` maps own field names (without `$`) to theirs."""
    bound = bind(node, auth=auth, request=request, now=now)
    if isinstance(bound, Const):
        return TRUE if bound.value is True else FALSE
    return _dialect_condition(connection, bound, data, dict(own_columns))


def _dialect_condition(connection: BaseDatabaseWrapper, node: Node, data: Sql, columns: dict[str, Sql]) -> Sql:
    if connection.vendor == "postgresql":
        return PostgresDialect(data, columns, lambda moment: moment).condition(node)
    if connection.vendor == "sqlite":
        _register_sqlite_functions(connection)
        return SqliteDialect(data, columns, connection.ops.adapt_datetimefield_value).condition(node)
    raise NotSupportedError(f"the rules language does not support {connection.vendor}")


class RulesCondition(Expression):
    """A boolean SQL expression compiled from a bound tree; usable in `.filter()` and in `Q`s."""

    conditional = True

    def __init__(self, node: Node, data_field: str, own_columns: Mapping[str, str]) -> None:
        super().__init__(output_field=BooleanField())
        self.node = node
        self.own_names = tuple(own_columns)
        self.refs: list[Any] = [F(data_field), *(F(own_columns[name]) for name in self.own_names)]

    def __repr__(self) -> str:
        return f"RulesCondition({self.node!r})"

    def get_source_expressions(self) -> list[Any]:
        return self.refs

    def set_source_expressions(self, exprs: list[Any]) -> None:
        self.refs = list(exprs)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        data, *own = (Sql(*_compiled(compiler, ref)) for ref in self.refs)
        columns = dict(zip(self.own_names, own, strict=True))
        result = _dialect_condition(connection, self.node, data, columns)
        return result.text, result.params


def _compiled(compiler: SQLCompiler, expression: Any) -> tuple[str, tuple[Any, ...]]:
    text, params = compiler.compile(expression)
    return text, tuple(params)


def _register_sqlite_functions(connection: BaseDatabaseWrapper) -> None:
    # Registered on the raw connection that will run the query; cheap, and idempotent.
    connection.ensure_connection()
    connection.connection.create_function(JSON_EQUAL_FUNCTION, 2, json_equal, deterministic=True)
