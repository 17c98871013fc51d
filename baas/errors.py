"""The one error shape of the API, and the exceptions that produce it.

Every error leaving `/v1/` is `{"error": {"code", "message", "details"}}` with a fitting status.
Services raise an `ApiError` subclass; the DRF exception handler and `ErrorShapeMiddleware` render
it, and map DRF's and Django's own exceptions into the same envelope. Internal causes go to the
log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger("baas.errors")


class ApiError(Exception):
    """Base of every error the API reports. Subclasses fix `code` and `http_status`."""

    code: str = "invalid_request"
    http_status: int = 400
    default_message: str = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class InvalidRequest(ApiError):
    code, http_status, default_message = "invalid_request", 400, "The request is invalid."


class ValidationFailed(ApiError):
    code, http_status, default_message = "validation_error", 400, "Some fields are invalid."


class NotAuthenticated(ApiError):
    code, http_status, default_message = "not_authenticated", 401, "Credentials are required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="baas"'})
        super().__init__(message, **kwargs)


class TokenInvalid(NotAuthenticated):
    code, default_message = "token_invalid", "The token is invalid."


class TokenExpired(NotAuthenticated):
    code, default_message = "token_expired", "The token has expired."


class PermissionDenied(ApiError):
    code, http_status, default_message = "permission_denied", 403, "You may not do this."


class NotFound(ApiError):
    code, http_status, default_message = "not_found", 404, "Nothing was found here."


class MethodNotAllowed(ApiError):
    code, http_status, default_message = "method_not_allowed", 405, "This method is not allowed here."


class Conflict(ApiError):
    code, http_status, default_message = "conflict", 409, "This conflicts with what exists."


class PreconditionFailed(ApiError):
    code, http_status, default_message = "precondition_failed", 412, "The resource has changed."


class TooLarge(ApiError):
    code, http_status, default_message = "too_large", 413, "The request body is too large."


class RequestTimeout(ApiError):
    code, http_status, default_message = "request_timeout", 408, "The request did not arrive in time."


class HeadersTooLarge(ApiError):
    code, http_status, default_message = "headers_too_large", 431, "The request headers are too large."


class UnsupportedMediaType(ApiError):
    code, http_status, default_message = "unsupported_media_type", 415, "This content type is not accepted."


class RateLimited(ApiError):
    code, http_status, default_message = "rate_limited", 429, "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        kwargs.setdefault("details", {"retry_after": max(1, int(retry_after))})
        super().__init__(message, **kwargs)


class Unavailable(ApiError):
    code, http_status, default_message = "unavailable", 503, "The service is unavailable right now."


class InternalError(ApiError):
    code, http_status, default_message = "internal_error", 500, "Something went wrong on our side."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.as_dict(), status=error.http_status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def _field_errors(detail: Any) -> dict[str, Any]:
    """DRF's nested ValidationError detail → `{field: [{code, message}]}` (nested for objects)."""
    if isinstance(detail, dict):
        return {str(key): _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(item, drf.ErrorDetail) for item in detail):
            return [{"code": item.code, "message": str(item)} for item in detail]  # type: ignore[return-value]
        return [_field_errors(item) for item in detail]  # type: ignore[return-value]
    if isinstance(detail, drf.ErrorDetail):
        return [{"code": detail.code, "message": str(detail)}]  # type: ignore[return-value]
    return [{"code": "invalid", "message": str(detail)}]  # type: ignore[return-value]


def from_exception(exc: BaseException) -> ApiError:
    """Translate any exception into the ApiError to show the client."""
    if isinstance(exc, ApiError):
        return exc
    if _looks_like_api_error(exc):
        error = ApiError(exc.message, code=exc.code, details=getattr(exc, "details", None))  # type: ignore[attr-defined]
        error.http_status = exc.http_status  # type: ignore[attr-defined]
        return error
    if isinstance(exc, drf.ValidationError):
        details = _field_errors(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
        return ValidationFailed(details=details)
    if isinstance(exc, drf.ParseError):
        return InvalidRequest(f"The body is not valid JSON: {exc.detail}")
    if isinstance(exc, drf.AuthenticationFailed):
        code = getattr(exc.detail, "code", None)
        cls = TokenExpired if code == "token_expired" else TokenInvalid
        return cls(str(exc.detail))
    if isinstance(exc, drf.NotAuthenticated):
        return NotAuthenticated()
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType(f"{exc.detail} Send application/json.")
    if isinstance(exc, drf.NotAcceptable):
        return ApiError("This API answers in JSON only.", code="not_acceptable")
    if isinstance(exc, drf.Throttled):
        return RateLimited(retry_after=int(exc.wait or 1))
    if isinstance(exc, RequestDataTooBig):
        return TooLarge()
    if isinstance(exc, drf.APIException):
        error = ApiError(str(exc.detail), code=str(exc.default_code))
        error.http_status = exc.status_code
        return error
    logger.exception("unhandled error", exc_info=exc)
    return InternalError()


def _looks_like_api_error(exc: BaseException) -> bool:
    """Errors of modules that must not import Django (e.g. the rules parser) carry the same fields."""
    return all(hasattr(exc, name) for name in ("code", "message", "http_status"))


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    error = from_exception(exc)
    response = Response(error.as_dict(), status=error.http_status)
    for name, value in error.headers.items():
        response[name] = value
    return response


class IdempotencyKeyReused(ApiError):
    code, http_status = "idempotency_key_reused", 422
    default_message = "This Idempotency-Key was used with another request body."


# --- Building client errors: one convention for every app -------------------------------------
#
# A field error is `validation_error` (400) with `details = {field: [{code, message, **params}]}`;
# nested fields are named by their dotted path ("rules.read", "ops.2.field"). An unknown body field
# is always the field error `unknown_field`. Apps raise these through the helpers below, never by
# assembling the dict themselves, so every app answers the same mistake the same way.


def field_error(field: str, code: str, message: str, **params: Any) -> ValidationFailed:
    """The error for one invalid field: raise it. `params` (e.g. `pointer`, `limit`) join the entry."""
    return ValidationFailed(message, details={field: [{"code": code, "message": message, **params}]})


def refuse_unknown_fields(body: Mapping[str, Any], allowed: Iterable[str], *, prefix: str = "") -> None:
    """Raise `validation_error` naming every key of `body` outside `allowed` as `unknown_field`.

    `prefix` is the dotted path of `body` inside the request ("ops.0"), so nested objects report
    the full path of the stray key.
    """
    allowed = tuple(allowed)
    unknown = sorted(str(key) for key in body if key not in allowed)
    if not unknown:
        return
    expected = ", ".join(sorted(allowed)) or "nothing"
    message = f"Unknown field(s) {', '.join(unknown)}; expected {expected}."
    entry = {"code": "unknown_field", "message": f"This field is not accepted here; expected {expected}."}
    raise ValidationFailed(message, details={_dotted(prefix, name): [dict(entry)] for name in unknown})


def require_object(body: Any, *, what: str = "The body") -> dict[str, Any]:
    """`body` if it is a JSON object, else 400 `invalid_request` (a list, a string, no body at all)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"{what} must be a JSON object.")
    return body


def refuse_any_body(body: Any) -> None:
    """For a call whose path says everything: an empty body passes; a JSON object's keys are all
    `unknown_field`; anything else is `invalid_request`."""
    if body in (None, b"", "") or body == {}:
        return
    refuse_unknown_fields(require_object(body), ())


def _dotted(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class KernelCode(StrEnum):
    """The codes the kernel itself answers with (each app lists its own in `<app>/errors.py`).

    Every member of every app's code enum is documented in docs/errors.md with its status; a test
    holds them together.
    """

    INVALID_REQUEST = "invalid_request"
    VALIDATION_ERROR = "validation_error"
    MISSING_BODY = "missing_body"
    NOT_AUTHENTICATED = "not_authenticated"
    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    REQUEST_TIMEOUT = "request_timeout"
    CONFLICT = "conflict"
    PRECONDITION_FAILED = "precondition_failed"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    HEADERS_TOO_LARGE = "headers_too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    INVALID_FILTER = "invalid_filter"
    INVALID_RULE = "invalid_rule"
