"""The part of the SQL compiler both databases share: SQL fragments, operands, and node dispatch.

A fragment is SQL text with `%s` placeholders plus its parameters, in order. Text written here is
fixed SQL; what comes from a user travels as a parameter (strings, numbers, any value), except a
field's path: its segments are identifiers (the grammar's NAME, checked again by `field_path`)
and are written into the text, as the expression indexes on documents are written. An index
matches a query only on the same constant — SQLite never matches a bound parameter, and a
PostgreSQL prepared statement that names its field by parameter gets planned anew on every
execution (its generic plan cannot use the index). Every condition a dialect builds is
two-valued — never SQL NULL — so `NOT` and Django's own negation stay exact; the docstrings of
the dialects say how each form achieves it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from baas.rules import values
from baas.rules.ast import (
    And,
    Compare,
    Const,
    Exists,
    Field,
    In,
    Node,
    Not,
    Or,
    Own,
    Size,
    StartsWith,
)


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    params: tuple[Any, ...] = ()


TRUE = Sql("(1 = 1)")
FALSE = Sql("(1 = 0)")


def sql(*parts: str | Sql) -> Sql:
    """Concatenate fixed SQL text and fragments, keeping the parameters in text order."""
    text: list[str] = []
    params: list[Any] = []
    for part in parts:
        if isinstance(part, Sql):
            text.append(part.text)
            params.extend(part.params)
        else:
            text.append(part)
    return Sql("".join(text), tuple(params))


def param(value: Any) -> Sql:
    return Sql("%s", (value,))


def field_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """The path's segments, once checked to be ASCII identifiers: safe inside an SQL string literal
    (no quote, backslash or other character a literal could mistake)."""
    if not path or not all(segment.isidentifier() and segment.isascii() for segment in path):
        raise ValueError(f"not a field path: {path!r}")
    return path


def join(separator: str, fragments: Iterable[Sql]) -> Sql:
    items = list(fragments)
    parts: list[str | Sql] = []
    for index, item in enumerate(items):
        if index:
            parts.append(separator)
        parts.append(item)
    return sql(*parts)


def json_text(value: Any) -> str:
    """A constant as JSON text (tuples are lists; MISSING is null)."""
    return json.dumps(None if value is values.MISSING else value, ensure_ascii=False)


# --- operands: what can stand on either side of an operator once constants are folded ---------


@dataclass(frozen=True, slots=True)
class JsonOp:
    """A data field: a path into the JSON column; SQL NULL when missing."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ColOp:
    """An own field: a column of the model, of a known kind; NULL is the JSON null."""

    name: str
    kind: str
    column: Sql


@dataclass(frozen=True, slots=True)
class SizeOp:
    inner: Operand


@dataclass(frozen=True, slots=True)
class BoolOp:
    """A condition used as a value, e.g. `(a == 1) == (b == 2)`."""

    condition: Sql


@dataclass(frozen=True, slots=True)
class ConstOp:
    value: Any


Operand = JsonOp | ColOp | SizeOp | BoolOp | ConstOp

FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
SQL_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


@lru_cache(maxsize=1024)
def _bound(text: str, *, strict: bool) -> datetime | None:
    """First instant whose canonical string is >= text (strict: for < and >=) or > text."""
    return values.first_instant((lambda s: s >= text) if strict else (lambda s: s > text))


@lru_cache(maxsize=1024)
def _prefix_end(prefix: str) -> datetime | None:
    """First instant whose canonical string is past every string starting with `prefix`."""
    return values.first_instant(lambda s: s[: len(prefix)] > prefix)


class Dialect:
    """Compiles a bound, folded tree to one two-valued SQL condition. Subclasses supply primitives."""

    def __init__(self, data: Sql, columns: dict[str, Sql], adapt_datetime: Callable[[datetime], Any]) -> None:
        self.data = data
        self.columns = columns
        self.adapt_datetime = adapt_datetime

    # --- conditions ---------------------------------------------------------------------------
    def condition(self, node: Node) -> Sql:
        match node:
            case Const(value=value):
                return TRUE if value is True else FALSE
            case And(items=items):
                return sql("(", join(" AND ", (self.condition(item) for item in items)), ")")
            case Or(items=items):
                return sql("(", join(" OR ", (self.condition(item) for item in items)), ")")
            case Not(item=item):
                return sql("(NOT ", self.condition(item), ")")
            case Compare(op=op, left=left, right=right):
                return self.comparison(op, left, right)
            case In(item=item, container=container):
                return self.membership(item, container)
            case Exists(target=Field(path=path)):
                return self.exists(path)
            case StartsWith(item=item, prefix=prefix):
                return self.prefix(self.operand(item), self.operand(prefix))
        # A value used as a condition holds only when it is the boolean true.
        value = self.operand(node)
        if isinstance(value, ConstOp):
            # Folded to a constant here, not by bind(): e.g. size(size(a)) or size($version) is
            # always null, so as a condition it is false, as values.truthy says.
            return TRUE if values.truthy(value.value) else FALSE
        return self.compare_const("==", value, True)

    def comparison(self, op: str, left: Node, right: Node) -> Sql:
        a, b = self.operand(left), self.operand(right)
        if isinstance(a, ConstOp) and isinstance(b, ConstOp):
            return TRUE if values.compare(op, a.value, b.value) else FALSE
        if isinstance(a, ConstOp):
            op, a, b = FLIPPED[op], b, a
        if isinstance(b, ConstOp) and b.value is values.MISSING:
            return TRUE if op == "!=" else FALSE  # a missing value equals and orders with nothing
        negate = op == "!="
        op = "==" if negate else op
        result = self.compare_const(op, a, b.value) if isinstance(b, ConstOp) else self.compare(op, a, b)
        return sql("(NOT ", result, ")") if negate else result

    def membership(self, item: Node, container: Node) -> Sql:
        if isinstance(container, Const):
            if values.kind(container.value) != values.ARRAY or not container.value:
                return FALSE
            target = self.operand(item)
            return sql("(", join(" OR ", (self.equal_to(target, e) for e in container.value)), ")")
        holder, wanted = self.operand(container), self.operand(item)
        if not isinstance(holder, JsonOp):
            return FALSE  # own columns, sizes and conditions are never lists
        if isinstance(wanted, ConstOp) and wanted.value is values.MISSING:
            return FALSE
        return self.contains(holder, wanted)

    def prefix(self, item: Operand, prefix: Operand) -> Sql:
        if isinstance(item, ConstOp) and isinstance(prefix, ConstOp):
            return TRUE if values.starts_with(item.value, prefix.value) else FALSE
        if isinstance(item, ConstOp) and not isinstance(item.value, str):
            return FALSE  # only a string has a prefix
        if isinstance(item, SizeOp | BoolOp) or (isinstance(item, ColOp) and item.kind == "number"):
            return FALSE
        if isinstance(prefix, ConstOp):
            if not isinstance(prefix.value, str):
                return FALSE
            if isinstance(item, ColOp) and item.kind == "timestamp":
                return self.timestamp_prefix(item.column, prefix.value)
        return self.starts_with(item, prefix)

    def equal_to(self, target: Operand, value: Any) -> Sql:
        if isinstance(target, ConstOp):
            return TRUE if values.equal(target.value, value) else FALSE
        return self.compare_const("==", target, value)

    # --- operands -----------------------------------------------------------------------------
    def operand(self, node: Node) -> Operand:
        match node:
            case Const(value=value):
                return ConstOp(value)
            case Field(path=path):
                return JsonOp(path)
            case Own(name=name, kind=kind):
                return ColOp(name, kind, self.columns[name])
            case Size(item=item):
                return self.size_operand(self.operand(item))
        return BoolOp(self.condition(node))

    def size_operand(self, inner: Operand) -> Operand:
        if isinstance(inner, ConstOp):
            return ConstOp(values.size(inner.value))
        if isinstance(inner, SizeOp | BoolOp) or (isinstance(inner, ColOp) and inner.kind == "number"):
            return ConstOp(None)  # numbers and booleans have no size
        return SizeOp(inner)

    # --- timestamps: canonical-string comparisons as plain ranges on the column ----------------
    def timestamp_compare(self, op: str, column: Sql, text: str) -> Sql:
        """`canonical(column) op text` for a timestamp column, as an index-friendly range."""
        if op == "==":
            instant = values.parse_canonical(text)
            if instant is None:
                return FALSE
            return sql("(", column, " IS NOT NULL AND ", column, " = ", param(self.adapt_datetime(instant)), ")")
        bound = _bound(text, strict=op in ("<", ">="))
        below = op in ("<", "<=")
        if bound is None:  # every timestamp is below the text
            return sql("(", column, " IS NOT NULL)") if below else FALSE
        comparison = " < " if below else " >= "
        return sql("(", column, " IS NOT NULL AND ", column, comparison, param(self.adapt_datetime(bound)), ")")

    def timestamp_prefix(self, column: Sql, prefix: str) -> Sql:
        """`starts_with(canonical(column), prefix)`: canonical strings with a prefix form one range."""
        low = _bound(prefix, strict=True)
        high = _prefix_end(prefix)
        if low is None or (high is not None and high <= low):
            return FALSE
        parts: list[str | Sql] = ["(", column, " IS NOT NULL AND ", column, " >= ", param(self.adapt_datetime(low))]
        if high is not None:
            parts += [" AND ", column, " < ", param(self.adapt_datetime(high))]
        return sql(*parts, ")")

    # --- primitives each dialect supplies ------------------------------------------------------
    def compare_const(self, op: str, target: Operand, value: Any) -> Sql:
        raise NotImplementedError

    def compare(self, op: str, left: Operand, right: Operand) -> Sql:
        raise NotImplementedError

    def contains(self, holder: JsonOp, item: Operand) -> Sql:
        raise NotImplementedError

    def exists(self, path: tuple[str, ...]) -> Sql:
        raise NotImplementedError

    def starts_with(self, item: Operand, prefix: Operand) -> Sql:
        raise NotImplementedError
