"""Error codes of object storage beyond the kernel's (`baas.errors.KernelCode`), and the
exceptions that carry them.

`StorageCode` lists the top-level codes storage answers with; `StorageDetail` the stable values it
puts inside `details` (a field error's code, a conflict's reason). Every member is documented in
docs/errors.md with its status (tests/storage/test_error_codes.py holds them together).
"""

from __future__ import annotations

from enum import StrEnum

from baas.errors import ApiError, Conflict, PermissionDenied


class StorageCode(StrEnum):
    INVALID_PATH = "invalid_path"  # 400
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"  # 416
    SIGNED_URL_EXPIRED = "signed_url_expired"  # 403
    SIGNED_URL_INVALID = "signed_url_invalid"  # 403


class StorageDetail(StrEnum):
    # The field error code of a bad bucket `name` (400 `validation_error`, `details.name`).
    INVALID_BUCKET_NAME = "invalid_bucket_name"
    # `details.reason` of the 409 `conflict` refusing to delete a bucket that holds objects.
    BUCKET_NOT_EMPTY = "bucket_not_empty"


class InvalidPath(ApiError):
    code, http_status, default_message = StorageCode.INVALID_PATH, 400, "The object path is not valid."


class RangeNotSatisfiable(ApiError):
    code, http_status, default_message = (
        StorageCode.RANGE_NOT_SATISFIABLE,
        416,
        "The requested range cannot be served.",
    )


class SignedUrlExpired(PermissionDenied):
    code, default_message = StorageCode.SIGNED_URL_EXPIRED, "This signed URL has expired."


class SignedUrlInvalid(PermissionDenied):
    code, default_message = StorageCode.SIGNED_URL_INVALID, "This signed URL is not valid."


def bucket_not_empty(name: str) -> Conflict:
    """409 `conflict` with `details.reason = "bucket_not_empty"`: delete the objects first."""
    return Conflict(
        "The bucket still holds objects; delete them first.",
        details={"reason": StorageDetail.BUCKET_NOT_EMPTY.value, "bucket": name},
    )
