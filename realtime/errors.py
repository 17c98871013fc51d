"""The codes of realtime's websocket errors, the close codes, and the one way an `error` is built.

Every refusal on the websocket is one message, `{"op": "error", "id"?, "code", "message",
"details"}` (plus `channel` for an eviction): `details` is always an object — the position of a bad
filter (`line`, `column`), the field errors of a bad payload, the limit that was hit — and empty
when there is nothing more to say. Every member of `RealtimeCode` is listed in docs/errors.md
("Realtime"), with what happens to the connection; a test holds the two together.
"""

from __future__ import annotations

import json
from enum import IntEnum, StrEnum
from typing import Any


class RealtimeCode(StrEnum):
    """The `code` of a websocket `error` message (SDKs switch on these)."""

    TOKEN_INVALID = "token_invalid"
    TOKEN_EXPIRED = "token_expired"
    PERMISSION_DENIED = "permission_denied"
    INVALID_FILTER = "invalid_filter"
    INVALID_REQUEST = "invalid_request"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    TOO_MANY = "too_many"
    RATE_LIMITED = "rate_limited"
    SNAPSHOT_TOO_LARGE = "snapshot_too_large"
    RESYNC_REQUIRED = "resync_required"
    SLOW_CONSUMER = "slow_consumer"
    IDLE_TIMEOUT = "idle_timeout"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    """Websocket close codes the server uses, after the `error` that says why."""

    IDLE = 4000
    # The credentials are not (or no longer) valid: a wrong token, or one that was revoked or
    # expired while connected; the `error` before the close says token_invalid or token_expired.
    AUTH = 4001
    SLOW_CONSUMER = 4008


class RealtimeError(Exception):
    """A refusal of one client message: answered with an `error`, the connection stays up.
    `details` are facts about the refusal (`limit`, `oldest`, `operation`)."""

    def __init__(self, code: RealtimeCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, dict(details or {})

    @classmethod
    def field(cls, code: RealtimeCode, field: str, message: str, *, problem: str = "invalid") -> RealtimeError:
        """A refusal because of one field of the message: `details` is `{field: [{code, message}]}`,
        the field-error shape of the REST API (`problem`: `required`, `invalid_type`, `invalid`)."""
        return cls(code, message, {field: [{"code": problem, "message": message}]})


def problem_with(value: Any, *, expected: type) -> str:
    """The detail code for a value that was refused: `required` (absent or null), `invalid_type`
    (not of the `expected` type) or `invalid` (the right type, a wrong value)."""
    if value is None:
        return "required"
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return "invalid_type"
    return "invalid"


def error_message(
    code: str, message: str, details: dict[str, Any] | None = None, *, request_id: str | None = None, **fields: Any
) -> str:
    """The encoded `error` message; `request_id` is the `id` of the client message it refuses."""
    body: dict[str, Any] = {"op": "error"}
    if request_id is not None:
        body["id"] = request_id
    body.update(code=str(code), message=message, details=dict(details or {}), **fields)
    return json.dumps(body)
