"""Parsing with the checks of the place an expression is used: a filter, or a rule for an operation.

A filter (`?filter=`, a realtime subscription's `filter`) reaches data fields, own fields, `auth`
("my documents": `$owner == auth.id`) and `now`, never `request`. A rule may use `request…` only
where a request body exists: on create and update. Rules are checked when they are saved, so a
bad rule is refused with its position instead of failing every later request.
"""

from __future__ import annotations

from typing import Literal

from baas.rules.ast import DOCUMENT_FIELDS, Node, OwnFields, Request, walk
from baas.rules.errors import INVALID_FILTER, INVALID_RULE, RulesError, where
from baas.rules.parser import MAX_DEPTH, MAX_LENGTH, MAX_LIST, parse

Operation = Literal["read", "create", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("read", "create", "update", "delete")
OPERATIONS_WITH_REQUEST = ("create", "update")


def parse_filter(
    text: str,
    *,
    own_fields: OwnFields = DOCUMENT_FIELDS,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
    max_list: int = MAX_LIST,
) -> Node:
    """Parse a client's filter; RulesError with code `invalid_filter` on any problem."""
    node = parse(
        text,
        own_fields=own_fields,
        max_length=max_length,
        max_depth=max_depth,
        max_list=max_list,
        code=INVALID_FILTER,
    )
    _refuse_request(
        node, INVALID_FILTER, "a filter cannot use request…; it reaches data fields, $ fields, auth and now"
    )
    return node


def parse_rule(
    text: str,
    operation: Operation,
    *,
    own_fields: OwnFields = DOCUMENT_FIELDS,
    max_length: int = MAX_LENGTH,
    max_depth: int = MAX_DEPTH,
    max_list: int = MAX_LIST,
) -> Node:
    """Parse a rule for one operation; RulesError with code `invalid_rule` on any problem.

    Call it when a rule is saved (to refuse it with its position) and when it is used (cached).
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
    node = parse(
        text,
        own_fields=own_fields,
        max_length=max_length,
        max_depth=max_depth,
        max_list=max_list,
        code=INVALID_RULE,
    )
    if operation not in OPERATIONS_WITH_REQUEST:
        _refuse_request(
            node,
            INVALID_RULE,
            f"request… is available only in create and update rules, not in a {operation} rule",
        )
    return node


def _refuse_request(node: Node, code: str, message: str) -> None:
    for item in walk(node):
        if isinstance(item, Request):
            line, column = (item.pos.line, item.pos.column) if item.pos else (1, 1)
            raise RulesError(f"{message} (at {where(line, column)})", code=code, line=line, column=column)
