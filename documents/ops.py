"""Atomic field transforms for PATCH (`ops`): applied to the current data inside the write's
transaction, with the row locked, so concurrent increments never lose an update."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from baas.errors import ValidationFailed, field_error
from baas.jsonvalues import number_problem
from baas.rules.values import equal
from baas.timestamps import rfc3339
from documents.errors import DocumentsCode
from documents.validation import check_field_path

OPS = ("increment", "array_union", "array_remove", "delete", "server_timestamp")
MAX_OPS = 100


def _error(path: str, message: str) -> ValidationFailed:
    """The error of the op on the field `path` (its key in `ops`): `details["ops.<path>"]`."""
    return field_error(f"ops.{path}", DocumentsCode.INVALID, message)


def check_ops(ops: Any) -> list[tuple[tuple[str, ...], str, Any]]:
    """Parse `{"a.b": {"increment": 1}, …}` into (path, op, argument) triples, or refuse it whole."""
    if ops is None:
        return []
    if not isinstance(ops, dict):
        raise field_error("ops", DocumentsCode.INVALID_TYPE, "ops must be an object.")
    if len(ops) > MAX_OPS:
        raise field_error("ops", DocumentsCode.TOO_MANY, f"At most {MAX_OPS} ops.", limit=MAX_OPS)
    parsed = []
    for path_text, spec in ops.items():
        path = check_field_path(path_text, f"ops.{path_text}")
        if not isinstance(spec, dict) or len(spec) != 1:
            raise _error(path_text, f'Give exactly one of {", ".join(OPS)}, e.g. {{"increment": 1}}.')
        ((name, argument),) = spec.items()
        if name not in OPS:
            raise _error(path_text, f"Unknown op {name!r}; use one of {', '.join(OPS)}.")
        if name == "increment" and (isinstance(argument, bool) or not isinstance(argument, int | float)):
            raise _error(path_text, "increment takes a number.")
        problem = number_problem(argument) if name == "increment" else None
        if problem is not None:
            raise _error(path_text, f"increment takes a number that can be stored: {problem[1]}.")
        if name in ("array_union", "array_remove") and not isinstance(argument, list):
            raise _error(path_text, f"{name} takes a list.")
        if name in ("delete", "server_timestamp") and argument is not True:
            raise _error(path_text, f"{name} takes true.")
        parsed.append((path, name, argument))
    return parsed


def apply_ops(data: dict[str, Any], ops: list[tuple[tuple[str, ...], str, Any]], *, now: datetime) -> dict[str, Any]:
    """A new data object with the ops applied in order (the input is not modified)."""
    result = copy.deepcopy(data)
    for path, name, argument in ops:
        parent = _parent(result, path, create=name != "delete")
        if parent is None:
            continue  # deleting below a missing or non-object field: nothing to delete
        key = path[-1]
        current = parent.get(key)
        if name == "increment":
            base = current if isinstance(current, int | float) and not isinstance(current, bool) else 0
            total = base + argument
            problem = number_problem(total)
            if problem is not None:
                # Past ±(2^53 - 1) or a double's range: refused like any such value (baas.jsonvalues).
                raise _error(".".join(path), f"The result of the increment cannot be stored: {problem[1]}.")
            parent[key] = total
        elif name == "array_union":
            items = list(current) if isinstance(current, list) else []
            for item in argument:
                if not any(equal(item, existing) for existing in items):
                    items.append(item)
            parent[key] = items
        elif name == "array_remove":
            items = list(current) if isinstance(current, list) else []
            parent[key] = [item for item in items if not any(equal(item, gone) for gone in argument)]
        elif name == "delete":
            parent.pop(key, None)
        elif name == "server_timestamp":
            parent[key] = rfc3339(now)
    return result


def _parent(data: dict[str, Any], path: tuple[str, ...], *, create: bool) -> dict[str, Any] | None:
    node = data
    for segment in path[:-1]:
        child = node.get(segment)
        if not isinstance(child, dict):
            if not create:
                return None
            child = {}
            node[segment] = child
        node = child
    return node
