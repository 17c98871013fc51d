"""The rules and filter language: one grammar, compiled to SQL and to a Python predicate.

Semantics and syntax: docs/rules.md. The public API, all that other apps should call:

Parse (raise `RulesError`: `code` "invalid_filter"/"invalid_rule", `message` with the position,
`details` {"line", "column"}, `http_status` 400 — the error handler renders it as-is):

    parse_filter(text, *, own_fields=DOCUMENT_FIELDS) -> Node
        a client's `?filter=` or subscription filter: data fields, $ fields, auth, now.
    parse_rule(text, operation, *, own_fields=DOCUMENT_FIELDS) -> Node
        a collection or bucket rule; operation is "read" | "create" | "update" | "delete";
        `request…` only on create and update. Call it when saving rules, and again when using
        them (parsing is cached; the tree is immutable and hashable).
    Both take max_length=4096, max_depth=32, max_list=100.

Explain (the console's rules simulator):

    explain(node, doc, *, auth=None, request=None, now=None) -> Explanation
        the predicate's answer (`allowed`) and the sub-expression that decided it (`deciding`,
        `clause` as text, `line`/`column`): for a false `&&` the operand that was not true.

Compile:

    to_predicate(node, *, data_key="data") -> pred
        pred(doc, *, auth=None, request=None, now=None) -> bool, where doc is the API shape
        {"id", "owner", "data": {...}, "version", "created_at", "updated_at"} (storage: the
        object's metadata, with data_key="metadata").
    matches(pred, doc_or_none, *, auth=None, request=None, now=None) -> bool
        False for None: compare before/after of an event to tell added/modified/removed apart.
    to_q(node, *, data_field="data", own_columns=None, auth=None, request=None, now=None) -> Q
        the same test inside the database (SQLite or PostgreSQL); own_columns maps own field
        names to model field names. Imported lazily: only this needs Django.

`auth` is {"id", "email", "role", "claims"} or None for an anonymous caller; `request` is
{"data", "size", "content_type"}; `now` a datetime (default: the current time). Storage passes
own_fields=OBJECT_FIELDS ($path, $owner, $size, $content_type, $created_at, $updated_at).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from baas.rules.ast import DOCUMENT_FIELDS, MISSING, OBJECT_FIELDS, Node, OwnFields
from baas.rules.errors import INVALID_FILTER, INVALID_RULE, RulesError
from baas.rules.explain import Explanation, explain
from baas.rules.predicate import Predicate, matches, to_predicate
from baas.rules.unparse import unparse
from baas.rules.validate import OPERATIONS, parse_filter, parse_rule

if TYPE_CHECKING:
    from baas.rules.sql import to_q

__all__ = [
    "DOCUMENT_FIELDS",
    "INVALID_FILTER",
    "INVALID_RULE",
    "MISSING",
    "OBJECT_FIELDS",
    "OPERATIONS",
    "Explanation",
    "Node",
    "OwnFields",
    "Predicate",
    "RulesError",
    "explain",
    "matches",
    "parse_filter",
    "parse_rule",
    "to_predicate",
    "to_q",
    "unparse",
]


def __getattr__(name: str) -> Any:
    # to_q needs Django; importing it lazily keeps `import baas.rules` free of Django.
    if name == "to_q":
        from baas.rules.sql import to_q

        return to_q
    raise AttributeError(f"module 'baas.rules' has no attribute {name!r}")
