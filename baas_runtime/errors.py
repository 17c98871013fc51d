"""Exceptions raised inside a function when a platform call fails."""

from __future__ import annotations

from typing import Any


class BaasError(Exception):
    """A platform call failed. `code` is the API's error code (e.g. `not_found`, `conflict`)."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class PermissionDenied(BaasError):
    """The deployment's permissions do not grant this call."""

    code = "permission_denied"


class NotFound(BaasError):
    code = "not_found"


class Conflict(BaasError):
    code = "conflict"


class PreconditionFailed(BaasError):
    code = "precondition_failed"


class InvalidRequest(BaasError):
    code = "invalid_request"


_BY_CODE = {
    "permission_denied": PermissionDenied,
    "not_found": NotFound,
    "conflict": Conflict,
    "precondition_failed": PreconditionFailed,
    "invalid_request": InvalidRequest,
    "validation_error": InvalidRequest,
}


def error_from(error: dict[str, Any]) -> BaasError:
    code = str(error.get("code") or "error")
    cls = _BY_CODE.get(code, BaasError)
    return cls(str(error.get("message") or code), code=code, details=error.get("details") or {})
