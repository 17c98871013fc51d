"""`?order=` for document lists, and the keyset cursor that pages through that order.

A data field may hold values of different types in different documents, so each data field sorts
by three keys that exist on both databases: a type rank (missing/null < booleans < numbers <
strings < lists < objects), then the numeric value (numbers; false=0, true=1), then the text (code
point order). None of the keys is ever NULL, so "after the cursor" is a plain lexicographic
comparison. Own fields sort by their column. The document id always ends the order, so the order
is total and a cursor never skips or repeats a row, whatever is inserted or deleted meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Expression, F, FloatField, IntegerField, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce

from baas.errors import InvalidRequest
from baas.pagination import INT, NUMBER, STRING, TIMESTAMP
from documents.validation import FIELD_SEGMENT

OWN_ORDER_COLUMNS = {
    "$id": "key",
    "$created_at": "created_at",
    "$updated_at": "updated_at",
    "$version": "version",
    "$owner": "owner",
}
OWN_CURSOR_KINDS = {"key": STRING, "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "version": INT, "owner": STRING}
MAX_ORDER_FIELDS = 4


@dataclass(frozen=True)
class SortKey:
    alias: str
    expression: Any
    descending: bool
    cursor_kind: str  # what a cursor may hold for this key (baas.pagination's kinds)

    @property
    def annotated(self) -> bool:
        """Computed keys are annotations; plain columns are ordered by their own name."""
        return not isinstance(self.expression, F)

    @property
    def name(self) -> str:
        return self.alias if self.annotated else self.expression.name


class _DataSortPart(Expression):
    """One of the three sort keys of a data field (`rank`, `number` or `text`)."""

    def __init__(self, path: tuple[str, ...], part: str) -> None:
        output = {"rank": IntegerField(), "number": FloatField(), "text": TextField()}[part]
        super().__init__(output_field=output)
        self.path, self.part = path, part
        self.data = F("data")

    def get_source_expressions(self) -> list[Any]:
        return [self.data]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.data,) = exprs

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        data, params = compiler.compile(self.data)
        value = f"({data} #> %s)"
        path = [list(self.path)]
        if self.part == "rank":
            sql = (
                f"(CASE jsonb_typeof({value}) WHEN 'boolean' THEN 1 WHEN 'number' THEN 2 WHEN 'string' THEN 3"
                " WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 0 END)"
            )
            return sql, [*params, *path]
        if self.part == "number":
            sql = (
                f"(CASE jsonb_typeof({value}) WHEN 'number' THEN CAST(({data} #>> %s) AS double precision)"
                f" WHEN 'boolean' THEN (CASE WHEN ({data} #>> %s) = 'true' THEN 1.0 ELSE 0.0 END) ELSE 0.0 END)"
            )
            return sql, [*params, *path, *params, *path, *params, *path]
        sql = f"(CASE jsonb_typeof({value}) WHEN 'string' THEN ({data} #>> %s) ELSE '' END) COLLATE \"C\""
        return sql, [*params, *path, *params, *path]

    def as_sqlite(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        data, params = compiler.compile(self.data)
        # Segments are identifiers (FIELD_SEGMENT), so the path is safe as a literal; a literal
        # (not a bound parameter) lets SQLite match it against an expression index.
        path = "'$." + ".".join(self.path) + "'"
        kind = f"json_type({data}, {path})"
        if self.part == "rank":
            sql = (
                f"(CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2"
                f" WHEN 'text' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 0 END)"
            )
            return sql, [*params]
        if self.part == "number":
            sql = (
                f"(CASE {kind} WHEN 'integer' THEN CAST(json_extract({data}, {path}) AS REAL)"
                f" WHEN 'real' THEN json_extract({data}, {path}) WHEN 'true' THEN 1.0 ELSE 0.0 END)"
            )
            return sql, [*params, *params, *params]
        sql = f"(CASE {kind} WHEN 'text' THEN json_extract({data}, {path}) ELSE '' END)"
        return sql, [*params, *params]


def parse_order(text: str | None) -> list[SortKey]:
    """`-score,title,$created_at` → sort keys, always ending with the document id."""
    keys: list[SortKey] = []
    fields = [part.strip() for part in (text or "").split(",") if part.strip()]
    if len(fields) > MAX_ORDER_FIELDS:
        raise InvalidRequest(f"order takes at most {MAX_ORDER_FIELDS} fields.", details={"order": text})
    ends_with_id = False
    for index, field in enumerate(fields):
        descending = field.startswith("-")
        name = field[1:] if descending else field
        if name.startswith("$"):
            column = OWN_ORDER_COLUMNS.get(name)
            if column is None:
                raise InvalidRequest(
                    f"Cannot order by {name}; own fields are {', '.join(OWN_ORDER_COLUMNS)}.",
                    details={"order": text},
                )
            expression = Coalesce(F(column), Value(""), output_field=CharField()) if column == "owner" else F(column)
            kind = OWN_CURSOR_KINDS[column]
            keys.append(SortKey(f"_o{index}", expression, descending, kind))
            ends_with_id = column == "key"
            continue
        path = tuple(name.split("."))
        if not all(FIELD_SEGMENT.match(segment) for segment in path) or len(path) > 8:
            raise InvalidRequest(
                f"{name!r} is not a field path: use names of letters, digits and '_' joined by dots.",
                details={"order": text},
            )
        for part, kind in (("rank", INT), ("number", NUMBER), ("text", STRING)):
            keys.append(SortKey(f"_o{index}{part[0]}", _DataSortPart(path, part), descending, kind))
        ends_with_id = False
    if not ends_with_id:
        keys.append(SortKey("_oid", F("key"), False, STRING))
    return keys


def apply_order(queryset: QuerySet, keys: list[SortKey]) -> QuerySet:
    annotations = {key.alias: key.expression for key in keys if key.annotated}
    ordering = [f"-{key.name}" if key.descending else key.name for key in keys]
    return queryset.annotate(**annotations).order_by(*ordering)


def position_of(row: dict[str, Any], keys: list[SortKey]) -> list[Any]:
    """The cursor position of a fetched row: its value for every sort key."""
    position = []
    for key in keys:
        value = row[key.name]
        position.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return position


def after(keys: list[SortKey], position: list[Any]) -> Q:
    """Rows strictly after `position` in the order of `keys` (mixed directions allowed)."""
    if len(position) != len(keys):
        raise InvalidRequest("The cursor does not belong to this order.", details={"cursor": "mismatch"})
    condition = Q(pk__in=[])
    for index in reversed(range(len(keys))):
        key = keys[index]
        name = key.name
        step = Q(**{f"{name}__{'lt' if key.descending else 'gt'}": position[index]})
        condition = step | (Q(**{name: position[index]}) & condition)
    return condition


def is_id_order(text: str | None) -> bool:
    """Whether `?order=` asks for the default order alone (by document id, ascending): the order
    the lean list path (documents/lean.py) serves. Any other order goes through `parse_order`."""
    fields = [part.strip() for part in (text or "").split(",") if part.strip()]
    return not fields or fields == ["$id"]
