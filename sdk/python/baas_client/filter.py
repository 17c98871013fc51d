"""Build filter expressions whose values are always quoted as literals."""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from .errors import fail

_MAX_SAFE = 2**53 - 1


def literal(v: Any) -> str:
    """One value as a literal of the expression language: it can never become an operator or a name."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if abs(v) > _MAX_SAFE:
            raise fail("invalid_argument", f"{v} is not a number the API accepts.")
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise fail("invalid_argument", f"{v} is not a number the API accepts.")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        return json.dumps(v.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z"))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    raise fail("invalid_argument", "Filter values are strings, numbers, booleans, None, datetimes or lists of them.")


def filter(template: str, *args: Any, **kwargs: Any) -> str:
    """`filter("owner == {} && tag in {tags}", uid, tags=tags)`: every `{}` / `{name}` becomes a quoted
    literal, so user input can never change the expression's meaning. Literal braces: `{{`, `}}`."""
    return template.format(*(_Lit(literal(a)) for a in args), **{k: _Lit(literal(v)) for k, v in kwargs.items()})


class _Lit(str):
    def __format__(self, spec: str) -> str:
        if spec:
            raise fail("invalid_argument", "Filter placeholders take no format spec.")
        return str(self)
