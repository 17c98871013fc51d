"""The semantics of values, defined once: both compilers follow these functions.

The Python predicate calls them directly; the SQL compiler folds constant sub-expressions with
them, and its SQL is written (and property-tested) to agree with them. docs/rules.md explains the
choices in prose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from baas.rules.ast import MISSING

# Kinds of JSON values. A missing field has kind "null" for ordering and size(), but equals nothing.
NULL, BOOL, NUMBER, STRING, ARRAY, OBJECT = "null", "bool", "number", "string", "array", "object"


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def equal_to(constant: Any) -> Callable[[Any], bool]:
    """A fast test `value == constant` for a constant known when compiling."""
    if constant is MISSING:
        return lambda value: False
    if constant is None or isinstance(constant, bool):
        return lambda value: value is constant
    if isinstance(constant, str):
        return lambda value: isinstance(value, str) and value == constant
    if isinstance(constant, int | float):
        return lambda value: (
            isinstance(value, int | float) and value is not True and value is not False and value == constant
        )
    return lambda value: equal(value, constant)


def kind(value: Any) -> str:
    # bool before int: in Python True is an int, in this language a boolean is not a number.
    if value is None or value is MISSING:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, list | tuple):
        return ARRAY
    if isinstance(value, Mapping):
        return OBJECT
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def equal(a: Any, b: Any) -> bool:
    """`a == b`: same kind and same value, deeply; 1 == 1.0, but true != 1 and "1" != 1.

    A missing value equals nothing, not null and not another missing value: so for an anonymous
    caller `$owner == auth.id` holds for no document, not for every document without an owner.
    """
    kind_a = type(a)
    if kind_a is type(b) and kind_a in _SCALAR_TYPES:  # the common case, decided at once
        return a == b
    if a is MISSING or b is MISSING:
        return False
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == ARRAY:
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if ka == OBJECT:
        return a.keys() == b.keys() and all(equal(a[key], b[key]) for key in a)
    if ka == NULL:
        return True
    return a == b


def less(a: Any, b: Any, or_equal: bool) -> bool:
    """`a < b` / `a <= b`: defined between two numbers or two strings (code point order); else false."""
    ka = kind(a)
    if ka not in (NUMBER, STRING) or ka != kind(b):
        return False
    return a <= b if or_equal else a < b


def compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
    if op == "<":
        return less(a, b, False)
    if op == "<=":
        return less(a, b, True)
    if op == ">":
        return less(b, a, False)
    return less(b, a, True)


def contains(container: Any, item: Any) -> bool:
    """`item in container` and `container contains item`: container is a list with an equal element."""
    if kind(container) != ARRAY:
        return False
    return any(equal(element, item) for element in container)


def size(value: Any) -> int | None:
    """Characters of a string, elements of a list, keys of an object; null for anything else."""
    k = kind(value)
    if k in (STRING, ARRAY, OBJECT):
        return len(value)
    return None


def starts_with(value: Any, prefix: Any) -> bool:
    return isinstance(value, str) and isinstance(prefix, str) and value.startswith(prefix)


def truthy(value: Any) -> bool:
    """A value used as a condition holds only when it is the boolean true."""
    return value is True


def lookup(container: Any, path: tuple[str, ...]) -> Any:
    """Follow object keys; anything that is not an object on the way makes the field missing."""
    current = container
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return MISSING
        current = current[key]
    return current


# --- timestamps -------------------------------------------------------------------------------
# Timestamps ($created_at, $updated_at, now) are strings in one canonical RFC 3339 form, always in
# UTC with six fraction digits. Fixed width makes string order equal time order, so one string
# semantics covers both, and `expires_at > now` works on data that stores such strings.

CANONICAL_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
CANONICAL_LENGTH = 27


def canonical_timestamp(value: datetime | str | None) -> str | None:
    """The canonical string of a timestamp given as a datetime or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        # Naive datetimes are UTC by this project's convention (USE_TZ with TIME_ZONE = "UTC").
        value = value.replace(tzinfo=UTC)
    v = value.astimezone(UTC)
    # Formatted by hand: strftime's %Y does not zero-pad years below 1000 on every platform.
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}Z"


def parse_canonical(text: str) -> datetime | None:
    """The instant whose canonical string is exactly `text`, or None."""
    if len(text) != CANONICAL_LENGTH or not text.endswith("Z") or not text.isascii():
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if canonical_timestamp(instant) == text else None


MIN_INSTANT = datetime(1, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def first_instant(holds: Callable[[str], bool]) -> datetime | None:
    """The first instant whose canonical string satisfies `holds`, or None if none does.

    `holds` must be monotone (false … false true … true) over time order. Because canonical strings
    sort like the instants they name, "canonical string < s" on a timestamp column becomes
    "column < first instant whose string is >= s": exact, and a plain range an index can serve.
    """
    low, high = 0, (MAX_INSTANT - MIN_INSTANT) // _MICROSECOND
    if not holds(canonical_timestamp(MAX_INSTANT)):  # type: ignore[arg-type]
        return None
    while low < high:
        middle = (low + high) // 2
        if holds(canonical_timestamp(MIN_INSTANT + middle * _MICROSECOND)):  # type: ignore[arg-type]
            high = middle
        else:
            low = middle + 1
    return MIN_INSTANT + low * _MICROSECOND
