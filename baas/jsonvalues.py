"""The value policy: which JSON values the API accepts, decided once and checked at the edge.

Some values cannot be represented by every part that handles them, and the parts then disagree or
fail: PostgreSQL's jsonb and text cannot hold NUL (`\\u0000`) while SQLite's `json_extract` stops
reading at it; a lone surrogate (`"\\ud800"`) is stored by SQLite but cannot be encoded as UTF-8
when rendered; integers beyond ±(2^53 - 1) are exact in Python and PostgreSQL but doubles in
SQLite and JavaScript; NaN, Infinity and numbers that overflow a double (`1e400`, a 400-digit
integer) are not JSON numbers at all for most readers; and very deep nesting exhausts recursion.

So every JSON value entering the API is held to I-JSON (RFC 7493) plus one rule of our own:

- strings (keys and values) are valid Unicode without lone surrogates, and hold no NUL character;
- integers lie within ±(2^53 - 1); other numbers are finite doubles (NaN, Infinity and numbers
  that overflow are refused);
- containers nest at most `MAX_DEPTH` levels.

`loads()` parses text under this policy (the DRF parser in `baas.parsers` and every hand-written
parse use it); `check()` holds an already built Python value to it (values coming from function
code, ops results). A violation raises `UnacceptableValue`, which renders as a 400 in the API's
error shape with the JSON pointer of the bad value. This module does not import Django, so the
rules language and the realtime hub can use it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

# After decoding, any surrogate left in a str is a lone one (valid pairs became one code point).
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class UnacceptableValue(Exception):
    """A value outside the policy: `code`/`http_status`/`message`/`details` like `baas.errors.ApiError`
    (it is rendered the same way), with `problem` and `pointer` naming what and where."""

    http_status = 400

    def __init__(self, problem: str, message: str, *, pointer: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.reason = message
        self.pointer = pointer
        self.code = "invalid_request"
        self.field = "body"

    @property
    def message(self) -> str:
        where = f" (at {self.pointer or '/'})" if self.pointer is not None else ""
        return f"The {self.field} is not acceptable JSON: {self.reason}{where}."

    @property
    def details(self) -> dict[str, Any]:
        item: dict[str, Any] = {"code": self.problem, "message": self.reason}
        if self.pointer is not None:
            item["pointer"] = self.pointer or "/"
        return {self.field: [item]}

    def about(self, field: str, code: str) -> UnacceptableValue:
        """The same problem reported under `field` with the top-level error `code`."""
        self.field, self.code = field, code
        return self


class _Bad(Exception):
    """Raised deep in the walk; each container on the way out adds its key to `path`."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem, self.message = problem, message
        self.path: list[str] = []

    def unacceptable(self) -> UnacceptableValue:
        pointer = "".join("/" + _printable(part).replace("~", "~0").replace("/", "~1") for part in reversed(self.path))
        return UnacceptableValue(self.problem, self.message, pointer=pointer)


def _printable(key: str) -> str:
    """A key as it can be shown in an error: the bad characters as JSON escapes (a lone surrogate
    could not even be encoded in the answer)."""
    return _BAD_CHARACTER.sub(lambda found: f"\\u{ord(found.group()):04x}", key)


def string_problem(text: str) -> tuple[str, str] | None:
    """(problem, message) when a string may not be stored, else None."""
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "nul_character", "strings may not contain the NUL character (\\u0000)"
    return "lone_surrogate", f"a lone surrogate (\\u{ord(found.group()):04x}) is not a character"


def number_problem(number: int | float) -> tuple[str, str] | None:
    """(problem, message) when a number may not be stored, else None (booleans are not numbers)."""
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return None
        return "integer_out_of_range", "integers must lie within ±(2^53 - 1) = ±9007199254740991"
    if math.isfinite(number):
        return None
    return "number_out_of_range", "numbers must be finite doubles (no NaN, Infinity or overflow such as 1e400)"


def _walk(value: Any, depth: int, max_depth: int) -> None:
    kind = type(value)
    if kind is str:
        if _BAD_CHARACTER.search(value):
            raise _Bad(*string_problem(value))  # type: ignore[misc]
    elif kind is dict:
        if depth >= max_depth:
            raise _Bad("too_deep", f"containers may nest at most {max_depth} levels")
        for key, item in value.items():
            try:
                if type(key) is not str:
                    raise _Bad("invalid_key", "object keys must be strings")
                if _BAD_CHARACTER.search(key):
                    raise _Bad(*string_problem(key))  # type: ignore[misc]
                _walk(item, depth + 1, max_depth)
            except _Bad as bad:
                bad.path.append(str(key))
                raise
    elif kind is list or kind is tuple:
        if depth >= max_depth:
            raise _Bad("too_deep", f"containers may nest at most {max_depth} levels")
        for index, item in enumerate(value):
            try:
                _walk(item, depth + 1, max_depth)
            except _Bad as bad:
                bad.path.append(str(index))
                raise
    elif kind is int or kind is float:
        problem = number_problem(value)
        if problem is not None:
            raise _Bad(*problem)
    elif value is None or kind is bool:
        pass
    elif isinstance(value, str | int | float | dict | list):  # subclasses: check as their base
        base = next(t for t in (bool, str, int, float, dict, list) if isinstance(value, t))
        _walk(base(value), depth, max_depth)
    else:
        raise _Bad("not_json", f"a {kind.__name__} is not a JSON value")


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """`value` itself when it is within the policy; raises `UnacceptableValue` naming the first
    bad value's JSON pointer. `max_depth` counts containers: `{"a": [1]}` is 2 levels.

    A bad value inside a member of an object is a 400 `validation_error` with that member as the
    field (`{"data": [{"code": "lone_surrogate", "message", "pointer": "/data/a"}]}`); anything
    else (bad syntax, a bad top-level array) is a 400 `invalid_request` about the `body`."""
    try:
        _walk(value, 0, max_depth)
    except _Bad as bad:
        error = bad.unacceptable()
        if isinstance(value, dict) and bad.path:
            # Inside a member of an object: reported as that field's error, like other field errors.
            error.about(_printable(bad.path[-1]), "validation_error")
        raise error from None
    except RecursionError:
        raise UnacceptableValue("too_deep", f"containers may nest at most {max_depth} levels") from None
    return value


def acceptable(value: Any, *, max_depth: int = MAX_DEPTH) -> bool:
    try:
        check(value, max_depth=max_depth)
    except UnacceptableValue:
        return False
    return True


def loads(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, encoding: str = "utf-8") -> Any:
    """Parse JSON text under the policy. Bytes must decode strictly (UTF-8 unless told otherwise)."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise UnacceptableValue("invalid_encoding", f"the text is not valid {encoding}") from None
    try:
        value = json.loads(text)
    except RecursionError:
        # The C scanner gives up at the interpreter's recursion limit (~1,000 levels), long
        # before a deep body could hurt; anything that deep is past our limit anyway.
        raise UnacceptableValue("too_deep", f"containers may nest at most {max_depth} levels") from None
    except json.JSONDecodeError as error:
        raise UnacceptableValue("invalid_json", f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except ValueError:
        # int() refuses integer strings past 4,300 digits: a number out of any range.
        raise UnacceptableValue(*number_problem(10**20)) from None  # type: ignore[misc]
    return check(value, max_depth=max_depth)


# --- reading stored JSON back -------------------------------------------------------------------
# PostgreSQL's jsonb keeps numbers as `numeric` and prints them without an exponent: the double
# 1e30 comes back as the integer literal 1000000000000000000000000000000, which Python would read
# as an int (comparing unlike the stored double, and refused by the policy on the next update).
# No integer beyond ±(2^53 - 1) is ever stored, so such a literal in stored JSON is a double.
_LONG_DIGIT_RUN = re.compile(r"\d{16,}")


def _stored_int(literal: str) -> int | float:
    number = int(literal)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    double = float(literal)
    return double if math.isfinite(double) else number  # kept as written before this policy


def stored_text(text: str) -> str:
    """JSON text read from the database, with integer literals past ±(2^53 - 1) turned back into
    the doubles they were written as (a no-op, and no parsing, for text without 16 digits in a row)."""
    if _LONG_DIGIT_RUN.search(text) is None:
        return text
    value = json.loads(text, parse_int=_stored_int)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
