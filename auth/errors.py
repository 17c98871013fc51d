"""The codes of the auth service (`/v1/auth/…` and `/v1/admin/…`).

Auth answers with kernel codes only: it adds none of its own, so every member of `AuthCode` is a
`KernelCode` value, listed here so that a client of these endpoints knows exactly which ones to
switch on (docs/errors.md gives each its status; docs/auth.md says when each is answered). The
exceptions that carry them are the kernel's (`baas.errors`).

`AuthFieldCode` lists the codes auth itself puts inside `details` of a 400 `validation_error`
(`{field: [{code, message}]}`). The strict body parsing adds DRF's own (`invalid`, `null`,
`required`, `max_length`, `not_a_dict`, `invalid_choice`) and `unknown_field`; password checks add
Django's validator codes (`password_too_short`, `password_too_common`,
`password_entirely_numeric`, `password_too_similar`).
"""

from __future__ import annotations

from enum import StrEnum

from baas.errors import KernelCode


class AuthCode(StrEnum):
    INVALID_REQUEST = KernelCode.INVALID_REQUEST
    VALIDATION_ERROR = KernelCode.VALIDATION_ERROR
    NOT_AUTHENTICATED = KernelCode.NOT_AUTHENTICATED
    TOKEN_INVALID = KernelCode.TOKEN_INVALID
    TOKEN_EXPIRED = KernelCode.TOKEN_EXPIRED
    PERMISSION_DENIED = KernelCode.PERMISSION_DENIED
    NOT_FOUND = KernelCode.NOT_FOUND
    CONFLICT = KernelCode.CONFLICT
    RATE_LIMITED = KernelCode.RATE_LIMITED


class AuthFieldCode(StrEnum):
    REQUIRED = "required"  # one of two fields that go together is missing (anonymous linking)
    INVALID = "invalid"  # a token unknown, used, expired or void; a password on an account without email
    TOO_LARGE = "too_large"  # `data` or `claims` over AUTH_USER_DATA_MAX_BYTES of JSON
