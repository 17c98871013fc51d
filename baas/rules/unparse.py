"""Syntax tree → expression text that parses back to the same tree.

Used by the property tests (generate trees, print them, parse them) and for showing a stored rule
in a normal form.
"""

from __future__ import annotations

import json
import math
from typing import Any

from baas.rules.ast import (
    MISSING,
    And,
    Auth,
    Compare,
    Const,
    Exists,
    Field,
    In,
    Node,
    Not,
    Now,
    Or,
    Own,
    Request,
    Size,
    StartsWith,
)


def unparse(node: Node) -> str:
    """Fully parenthesized text for `node` (bound constants that are objects have no syntax)."""
    match node:
        case Const(value=value):
            return _literal(value)
        case Field(path=path):
            return ".".join(path)
        case Own(name=name):
            return f"${name}"
        case Auth(path=path):
            return ".".join(("auth", *path))
        case Request(path=path):
            return ".".join(("request", *path))
        case Now():
            return "now"
        case Compare(op=op, left=left, right=right):
            return f"({unparse(left)} {op} {unparse(right)})"
        case In(item=item, container=container):
            return f"({unparse(item)} in {unparse(container)})"
        case And(items=items):
            return "(" + " && ".join(unparse(item) for item in items) + ")"
        case Or(items=items):
            return "(" + " || ".join(unparse(item) for item in items) + ")"
        case Not(item=item):
            return f"!{unparse(item)}"
        case Exists(target=target):
            return f"exists({unparse(target)})"
        case Size(item=item):
            return f"size({unparse(item)})"
        case StartsWith(item=item, prefix=prefix):
            return f"starts_with({unparse(item)}, {unparse(prefix)})"
    raise TypeError(f"cannot print {type(node).__name__}")


def _literal(value: Any) -> str:
    if value is MISSING or value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a non-finite number has no literal")
        return repr(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    raise ValueError("an object has no literal")
