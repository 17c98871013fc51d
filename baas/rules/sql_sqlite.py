"""The SQLite dialect: the JSON1 functions, with explicit type tests.

Why the forms look the way they do:
- `json_extract` answers 1 for true and gives no type, so every comparison first tests
  `json_type` (NULL when missing, turned into 'missing', which equals nothing).
- Text compares with the BINARY collation, which for UTF-8 is code point order.
- Lists and objects are compared deeply by `baas_json_equal`, a deterministic SQL function
  registered on each connection that calls `values.equal`: SQLite has no JSON equality of its own
  (the text of equal values can differ in key order and number spelling).
- Every condition is two-valued: the type test is false exactly when a value is NULL.
"""

from __future__ import annotations

import json
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

JSON_EQUAL_FUNCTION = "baas_json_equal"
NUMBER_TYPES = "('integer', 'real')"
# json_type()'s names for a constant of each kind; fixed text, never user input.
CONST_TYPES = {
    values.NULL: "'null'",
    values.NUMBER: "'real'",
    values.STRING: "'text'",
    values.ARRAY: "'array'",
    values.OBJECT: "'object'",
}


def json_equal(a: str | None, b: str | None) -> int:
    """The SQL function behind deep equality of lists and objects (arguments are JSON text).

    SQLite may call it before the type test beside it has failed, with a plain string or number:
    such a call answers 0, and the type test decides anyway.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return 0
    try:
        return int(values.equal(json.loads(a), json.loads(b)))
    except ValueError:
        return 0


class _Parts:
    """An operand as SQLite sees it: its json_type name (never NULL: 'missing' for an absent field),
    its SQL value, and its JSON text."""

    __slots__ = ("atom", "json", "type")

    def __init__(self, type_: Sql, atom: Sql, json_: Sql) -> None:
        self.type, self.atom, self.json = type_, atom, json_


def path_literal(path: tuple[str, ...]) -> Sql:
    """A field's JSON path ('$.a.b') as a literal, as the expression indexes write it
    (documents/indexes.py): SQLite matches an index only against literals."""
    return Sql("'$." + ".".join(field_path(path)) + "'")


class SqliteDialect(Dialect):
    def path(self, target: JsonOp) -> Sql:
        return path_literal(target.path)

    def parts(self, target: Operand) -> _Parts:
        match target:
            case JsonOp():
                atom = sql("json_extract(", self.data, ", ", self.path(target), ")")
                type_ = sql("COALESCE(json_type(", self.data, ", ", self.path(target), "), 'missing')")
                return _Parts(type_, atom, atom)
            case ColOp(kind=kind, column=column):
                name = "'integer'" if kind == "number" else "'text'"
                type_ = sql("(CASE WHEN ", column, " IS NULL THEN 'null' ELSE ", name, " END)")
                atom = self.canonical(column) if kind == "timestamp" else column
                return _Parts(type_, atom, atom)
            case SizeOp(inner=inner):
                size = self.size(inner)
                return _Parts(sql("(CASE WHEN ", size, " IS NULL THEN 'null' ELSE 'integer' END)"), size, size)
            case BoolOp(condition=condition):
                return _Parts(sql("(CASE WHEN ", condition, " THEN 'true' ELSE 'false' END)"), Sql("NULL"), Sql("NULL"))
            case ConstOp(value=value):
                kind = values.kind(value)
                if value is values.MISSING:
                    return _Parts(Sql("'missing'"), Sql("NULL"), Sql("NULL"))
                type_ = Sql(("'true'" if value else "'false'") if kind == values.BOOL else CONST_TYPES[kind])
                scalar = kind in (values.NUMBER, values.STRING)
                return _Parts(type_, param(value) if scalar else Sql("NULL"), param(json_text(value)))
        raise TypeError(target)

    def canonical(self, column: Sql) -> Sql:
        # Django stores a datetime as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC; rebuild the canonical form.
        return sql(
            "(substr(", column, ", 1, 10) || 'T' || substr(", column, ", 12, 8) || '.' || substr(substr(",
            column, ", 21) || '000000', 1, 6) || 'Z')",
        )  # fmt: skip

    def size(self, target: Operand) -> Sql:
        if isinstance(target, ColOp):
            if target.kind == "timestamp":
                length = values.CANONICAL_LENGTH
                return sql("(CASE WHEN ", target.column, f" IS NULL THEN NULL ELSE {length} END)")
            return sql("length(", target.column, ")")
        p = self.parts(target)
        return sql(
            "(CASE ", p.type, " WHEN 'text' THEN length(", p.atom, ") WHEN 'array' THEN json_array_length(",
            p.json, ") WHEN 'object' THEN (SELECT count(*) FROM json_each(", p.json, ")) END)",
        )  # fmt: skip

    # --- primitives ---------------------------------------------------------------------------
    def compare_const(self, op: str, target: Operand, value: Any) -> Sql:
        kind = values.kind(value)
        match target:
            case ColOp(kind="timestamp", column=column):
                if kind == values.NULL:
                    return sql("(", column, " IS NULL)") if op == "==" else FALSE
                return self.timestamp_compare(op, column, value) if kind == values.STRING else FALSE
            case ColOp(kind=col_kind, column=column):
                if kind == values.NULL:
                    return sql("(", column, " IS NULL)") if op == "==" else FALSE
                if kind != (values.STRING if col_kind == "string" else values.NUMBER):
                    return FALSE
                return sql("(", column, " IS NOT NULL AND ", column, f" {SQL_OPS.get(op, '=')} ", param(value), ")")
            case BoolOp(condition=condition):
                if op != "==" or kind != values.BOOL:
                    return FALSE
                return condition if value else sql("(NOT ", condition, ")")
        return self.parts_vs_const(op, self.parts(target), value)

    def parts_vs_const(self, op: str, p: _Parts, value: Any) -> Sql:
        kind = values.kind(value)
        if op == "==":
            if kind == values.NULL:
                return sql("(", p.type, " = 'null')")
            if kind == values.BOOL:
                return sql("(", p.type, " = ", "'true'" if value else "'false'", ")")
            if kind == values.NUMBER:
                return sql("(", p.type, f" IN {NUMBER_TYPES} AND ", p.atom, " = ", param(value), ")")
            if kind == values.STRING:
                return sql("(", p.type, " = 'text' AND ", p.atom, " = ", param(value), ")")
            return sql(
                "(", p.type, " = ", CONST_TYPES[kind], f" AND {JSON_EQUAL_FUNCTION}(", p.json, ", ",
                param(json_text(value)), "))",
            )  # fmt: skip
        if kind == values.NUMBER:
            return sql("(", p.type, f" IN {NUMBER_TYPES} AND ", p.atom, f" {SQL_OPS[op]} ", param(value), ")")
        if kind == values.STRING:
            return sql("(", p.type, " = 'text' AND ", p.atom, f" {SQL_OPS[op]} ", param(value), ")")
        return FALSE

    def compare(self, op: str, left: Operand, right: Operand) -> Sql:
        return self.parts_compare(op, self.parts(left), self.parts(right))

    def parts_compare(self, op: str, a: _Parts, b: _Parts) -> Sql:
        if op == "==":
            return sql(
                "(CASE WHEN ", a.type, " = 'missing' THEN 0",
                " WHEN ", a.type, " = 'null' THEN ", b.type, " = 'null'",
                " WHEN ", a.type, " IN ('true', 'false') THEN ", b.type, " = ", a.type,
                " WHEN ", a.type, f" IN {NUMBER_TYPES} THEN ", b.type, f" IN {NUMBER_TYPES} AND ",
                a.atom, " = ", b.atom,
                " WHEN ", a.type, " = 'text' THEN ", b.type, " = 'text' AND ", a.atom, " = ", b.atom,
                " ELSE ", b.type, " = ", a.type, f" AND {JSON_EQUAL_FUNCTION}(", a.json, ", ", b.json, ") END)",
            )  # fmt: skip
        sql_op = SQL_OPS[op]
        return sql(
            "(CASE WHEN ", a.type, f" IN {NUMBER_TYPES} THEN ", b.type, f" IN {NUMBER_TYPES} AND ",
            a.atom, f" {sql_op} ", b.atom,
            " WHEN ", a.type, " = 'text' THEN ", b.type, " = 'text' AND ", a.atom, f" {sql_op} ", b.atom,
            " ELSE 0 END)",
        )  # fmt: skip

    def contains(self, holder: JsonOp, item: Operand) -> Sql:
        element = _Parts(Sql("rules_element.type"), Sql("rules_element.atom"), Sql("rules_element.value"))
        if isinstance(item, ConstOp):
            match = self.parts_vs_const("==", element, item.value)
        else:
            match = self.parts_compare("==", element, self.parts(item))
        return sql(
            "(", self.parts(holder).type, " = 'array' AND EXISTS (SELECT 1 FROM json_each(", self.data, ", ",
            self.path(holder), ") AS rules_element WHERE ", match, "))",
        )  # fmt: skip

    def exists(self, path: tuple[str, ...]) -> Sql:
        return sql("(json_type(", self.data, ", ", self.path(JsonOp(path)), ") IS NOT NULL)")

    def starts_with(self, item: Operand, prefix: Operand) -> Sql:
        a, b = self.parts(item), self.parts(prefix)
        if isinstance(prefix, ConstOp):
            # substr() and length() count characters (code points) in SQLite, like Python.
            return sql(
                "(", a.type, " = 'text' AND substr(", a.atom, ", 1, ", param(len(prefix.value)), ") = ",
                param(prefix.value), ")",
            )  # fmt: skip
        return sql(
            "(CASE WHEN ", a.type, " = 'text' AND ", b.type, " = 'text' THEN substr(", a.atom,
            ", 1, length(", b.atom, ")) = ", b.atom, " ELSE 0 END)",
        )  # fmt: skip
