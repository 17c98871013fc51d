"""Every failure of the SDK is a BaasError: the server's error envelope, or a client-side condition."""

from __future__ import annotations

from typing import Any


class BaasError(Exception):
    """`code`: stable snake_case code (docs/errors.md); client-side: `network_error`, `invalid_argument`,
    `unavailable`, `not_authenticated`. `status`: the HTTP status, 0 when no answer arrived."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 0,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"BaasError(code={self.code!r}, status={self.status}, message={self.message!r})"


def fail(code: str, message: str, details: dict[str, Any] | None = None) -> BaasError:
    return BaasError(code, message, 0, details)
