"""The PostgreSQL dialect: jsonb operators, with the language's semantics made explicit.

Why the forms look the way they do:
- jsonb `=` already is the language's equality (same type, numbers by value, deep for lists and
  objects), so equality is `x = const::jsonb`; SQL NULL (a missing field) is handled apart.
- `data @> {"path": value}` is added in front of equality and `contains` tests: it is implied by
  them (so it changes no answer) and lets a GIN index on the data column serve the query.
- Strings order by code point: text comparisons use COLLATE "C", whatever the database's locale.
- Every condition is two-valued: a part that could be NULL is paired with an `IS NOT NULL` (or
  type) test that is false exactly then, which keeps the plain form an index can match.
- Functions that fail on the wrong type (`jsonb_array_length`, `jsonb_array_elements`) only ever
  see a value whose type a CASE has checked.
"""

from __future__ import annotations

from typing import Any

from baas.rules import values
from baas.rules.sqlbase import (
    FALSE,
    SQL_OPS,
    BoolOp,
    ColOp,
    ConstOp,
    Dialect,
    JsonOp,
    Operand,
    SizeOp,
    Sql,
    field_path,
    json_text,
    param,
    sql,
)

CANONICAL_TEXT = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''


def _nested(path: tuple[str, ...], value: Any) -> str:
    """{"a": {"b": value}} for path (a, b), as JSON text: the containment that a GIN index serves."""
    document: Any = value
    for key in reversed(path):
        document = {key: document}
    return json_text(document)


def path_literal(path: tuple[str, ...]) -> Sql:
    """A field's key ('a') or path ('{"a","b"}', a text[]) as a literal, not a parameter, as the
    expression indexes write it (documents/indexes.py): a prepared statement's generic plan can
    then use an index on that field, so it is not planned anew on every execution (sqlbase's
    docstring). Each element is quoted, so that a segment spelled NULL stays a key."""
    segments = field_path(path)
    if len(segments) == 1:
        return Sql(f"'{segments[0]}'")
    return Sql("'{" + ",".join(f'"{segment}"' for segment in segments) + "}'")


class PostgresDialect(Dialect):
    # --- operand renderings -------------------------------------------------------------------
    def json(self, target: Operand) -> Sql:
        """The operand as jsonb; SQL NULL only when a data field is missing (a NULL column is 'null')."""
        match target:
            case JsonOp(path=path):
                # The shapes of the expression indexes (documents/indexes.py), so that they match.
                return sql("(", self.data, " -> " if len(path) == 1 else " #> ", path_literal(path), ")")
            case ColOp(kind="timestamp", column=column):
                return sql("COALESCE(to_jsonb(", self.canonical(column), "), 'null'::jsonb)")
            case ColOp(column=column):
                return sql("COALESCE(to_jsonb(", column, "), 'null'::jsonb)")
            case SizeOp(inner=inner):
                return sql("COALESCE(to_jsonb(", self.size(inner), "), 'null'::jsonb)")
            case BoolOp(condition=condition):
                return sql("to_jsonb(", condition, ")")
            case ConstOp(value=value):
                if value is values.MISSING:
                    return Sql("CAST(NULL AS jsonb)")
                return sql("CAST(", param(json_text(value)), " AS jsonb)")
        raise TypeError(target)

    def text(self, target: JsonOp) -> Sql:
        path = target.path
        return sql("(", self.data, " ->> " if len(path) == 1 else " #>> ", path_literal(path), ")")

    def type_is(self, target: Operand, json_type: str) -> Sql:
        return sql("(COALESCE(jsonb_typeof(", self.json(target), "), 'missing') = '", json_type, "')")

    def canonical(self, column: Sql) -> Sql:
        return sql("to_char(", column, " AT TIME ZONE 'UTC', ", CANONICAL_TEXT, ")")

    def size(self, target: Operand) -> Sql:
        """Characters, elements or keys as an integer; NULL when the value has no size."""
        if isinstance(target, ColOp):
            if target.kind == "timestamp":
                length = values.CANONICAL_LENGTH
                return sql("(CASE WHEN ", target.column, f" IS NULL THEN NULL ELSE {length} END)")
            return sql("length(", target.column, ")")
        x = self.json(target)
        return sql(
            "(CASE jsonb_typeof(", x, ") WHEN 'string' THEN length(", x, " #>> '{}')",
            " WHEN 'array' THEN jsonb_array_length(", x, ")",
            " WHEN 'object' THEN (SELECT count(*)::int FROM jsonb_object_keys(", x, ")) END)",
        )  # fmt: skip

    # --- primitives ---------------------------------------------------------------------------
    def compare_const(self, op: str, target: Operand, value: Any) -> Sql:
        kind = values.kind(value)
        match target:
            case JsonOp():
                return self._json_vs_const(op, target, value, kind)
            case ColOp(kind="timestamp", column=column):
                if kind == values.NULL:
                    return sql("(", column, " IS NULL)") if op == "==" else FALSE
                return self.timestamp_compare(op, column, value) if kind == values.STRING else FALSE
            case ColOp(kind=col_kind, column=column):
                if kind == values.NULL:
                    return sql("(", column, " IS NULL)") if op == "==" else FALSE
                if kind != (values.STRING if col_kind == "string" else values.NUMBER):
                    return FALSE
                collate = ' COLLATE "C"' if col_kind == "string" and op != "==" else ""
                sql_op = SQL_OPS.get(op, "=")
                return sql("(", column, " IS NOT NULL AND ", column, collate, f" {sql_op} ", param(value), ")")
            case SizeOp(inner=inner):
                size = self.size(inner)
                if kind == values.NULL:
                    return sql("(", size, " IS NULL)") if op == "==" else FALSE
                if kind != values.NUMBER:
                    return FALSE
                return sql("COALESCE(", size, f" {SQL_OPS.get(op, '=')} ", param(value), ", false)")
            case BoolOp(condition=condition):
                if op != "==" or kind != values.BOOL:
                    return FALSE
                return condition if value else sql("(NOT ", condition, ")")
        raise TypeError(target)

    def _json_vs_const(self, op: str, target: JsonOp, value: Any, kind: str) -> Sql:
        x = self.json(target)
        if op == "==":
            return sql(
                "(", self.data, " @> ", param(_nested(target.path, value)), "::jsonb AND ",
                x, " IS NOT NULL AND ", x, " = ", param(json_text(value)), "::jsonb)",
            )  # fmt: skip
        if kind == values.NUMBER:
            return sql(
                "(", self.type_is(target, "number"), " AND ", x, f" {SQL_OPS[op]} ", param(json_text(value)), "::jsonb)"
            )
        if kind == values.STRING:
            text = self.text(target)
            return sql(
                "(", self.type_is(target, "string"), " AND ", text, f' COLLATE "C" {SQL_OPS[op]} ', param(value), ")"
            )
        return FALSE

    def compare(self, op: str, left: Operand, right: Operand) -> Sql:
        a, b = self.json(left), self.json(right)
        if op == "==":
            return sql("COALESCE(", a, " = ", b, ", false)")  # NULL: a missing field equals nothing
        sql_op = SQL_OPS[op]
        return sql(
            "(CASE WHEN jsonb_typeof(", a, ") = 'number' AND jsonb_typeof(", b, ") = 'number' THEN ",
            a, f" {sql_op} ", b,
            " WHEN jsonb_typeof(", a, ") = 'string' AND jsonb_typeof(", b, ") = 'string' THEN (",
            a, " #>> '{}') COLLATE \"C\" ", sql_op, " (", b, " #>> '{}') ELSE false END)",
        )  # fmt: skip

    def contains(self, holder: JsonOp, item: Operand) -> Sql:
        x = self.json(holder)
        if isinstance(item, ConstOp) and values.kind(item.value) not in (values.ARRAY, values.OBJECT):
            element = item.value
            return sql(
                "(", self.data, " @> ", param(_nested(holder.path, [element])), "::jsonb AND ",
                self.type_is(holder, "array"), " AND ", x, " @> ", param(json_text([element])), "::jsonb)",
            )  # fmt: skip
        wanted = self.json(item)
        return sql(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(", x, ") = 'array' THEN ",
            x, " ELSE '[]'::jsonb END) AS rules_element(value) WHERE rules_element.value = ", wanted, ")",
        )  # fmt: skip

    def exists(self, path: tuple[str, ...]) -> Sql:
        return sql("(", self.json(JsonOp(path)), " IS NOT NULL)")

    def starts_with(self, item: Operand, prefix: Operand) -> Sql:
        if isinstance(prefix, ConstOp):
            if isinstance(item, JsonOp):
                return sql(
                    "(",
                    self.type_is(item, "string"),
                    " AND starts_with(",
                    self.text(item),
                    ", ",
                    param(prefix.value),
                    "))",
                )
            if isinstance(item, ColOp):
                column = item.column
                return sql("(", column, " IS NOT NULL AND starts_with(", column, ", ", param(prefix.value), "))")
        a, b = self.json(item), self.json(prefix)
        return sql(
            "COALESCE(jsonb_typeof(", a, ") = 'string' AND jsonb_typeof(", b, ") = 'string' AND starts_with(",
            a, " #>> '{}', ", b, " #>> '{}'), false)",
        )  # fmt: skip
