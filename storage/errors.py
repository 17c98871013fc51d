"""Error codes of object storage beyond the kernel's, and the exceptions that carry them."""

from __future__ import annotations

from enum import StrEnum

from baas.errors import ApiError, PermissionDenied


class StorageErrorCode(StrEnum):
    INVALID_PATH = "invalid_path"
    INVALID_BUCKET_NAME = "invalid_bucket_name"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    SIGNED_URL_EXPIRED = "signed_url_expired"
    SIGNED_URL_INVALID = "signed_url_invalid"
    BUCKET_NOT_EMPTY = "bucket_not_empty"


class InvalidPath(ApiError):
    code, http_status, default_message = StorageErrorCode.INVALID_PATH, 400, "The object path is not valid."


class RangeNotSatisfiable(ApiError):
    code, http_status, default_message = (
        StorageErrorCode.RANGE_NOT_SATISFIABLE,
        416,
        "The requested range cannot be served.",
    )


class SignedUrlExpired(PermissionDenied):
    code, default_message = StorageErrorCode.SIGNED_URL_EXPIRED, "This signed URL has expired."


class SignedUrlInvalid(PermissionDenied):
    code, default_message = StorageErrorCode.SIGNED_URL_INVALID, "This signed URL is not valid."
