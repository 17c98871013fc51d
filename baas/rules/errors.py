"""The error every problem with an expression raises.

It carries the same attributes as `baas.errors.ApiError` (`code`, `message`, `details`,
`http_status`), which the project's error handler renders as the API's error shape, without
importing Django: the parser and the predicate must stay usable outside a Django process.
"""

from __future__ import annotations

from typing import Any

INVALID_FILTER = "invalid_filter"
INVALID_RULE = "invalid_rule"


class RulesError(Exception):
    """An expression is invalid: a syntax error, an unknown name, a limit, or a forbidden variable.

    `message` is a sentence for a person and ends with the position ("… at column 14");
    `details` holds {"line", "column"} (1-based) for programs.
    """

    http_status = 400

    def __init__(
        self, message: str, *, code: str = INVALID_FILTER, line: int = 1, column: int = 1, **extra: Any
    ) -> None:
        self.code = code
        self.message = message
        self.details: dict[str, Any] = {"line": line, "column": column, **extra}
        super().__init__(message)

    @property
    def line(self) -> int:
        return self.details["line"]

    @property
    def column(self) -> int:
        return self.details["column"]

    def with_code(self, code: str) -> RulesError:
        """The same error reported under another code (a filter's or a rule's)."""
        extra = {key: value for key, value in self.details.items() if key not in ("line", "column")}
        return RulesError(self.message, code=code, line=self.line, column=self.column, **extra)


def where(line: int, column: int) -> str:
    """The position as the messages say it: "column 14", or "line 2, column 3" past the first line."""
    return f"column {column}" if line == 1 else f"line {line}, column {column}"
