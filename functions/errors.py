"""Error codes of the functions service, and its exceptions.

`FunctionsCode` lists the codes this app answers requests with beyond the kernel's
(`baas.errors.KernelCode`); `InvocationCode` the codes an invocation's recorded error may carry
(`invocation.error.code`) besides the ones a function chooses itself. Every member of both is
documented in docs/errors.md. `DetailCode` lists the codes inside `details` of a refused deploy.
"""

from __future__ import annotations

from enum import StrEnum

from baas.errors import ApiError


class FunctionsCode(StrEnum):
    """Codes of error answers (`{"error": {"code": …}}`) that only functions gives."""

    DEPLOY_FAILED = "deploy_failed"  # 400
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"  # 503


class InvocationCode(StrEnum):
    """Codes of an invocation's recorded error that the platform sets (a function may set any other
    code by raising an exception with a string `code` attribute)."""

    FUNCTION_ERROR = "function_error"  # what a caller sees of an exception nobody labelled
    TIMEOUT = "timeout"
    CPU_LIMIT = "cpu_limit"
    OUTPUT_LIMIT = "output_limit"
    CRASHED = "crashed"
    START_FAILED = "start_failed"
    PROTOCOL_ERROR = "protocol_error"
    WORKER_LOST = "worker_lost"
    LOOP_DETECTED = "loop_detected"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    RESULT_NOT_STORABLE = "result_not_storable"
    INVALID_RESPONSE = "invalid_response"  # an HTTP handler's answer the platform will not send
    SECRETS_UNREADABLE = "secrets_unreadable"
    INTERNAL_ERROR = "internal_error"


class DetailCode(StrEnum):
    """Codes inside `details` of a deploy refused with `validation_error`."""

    INVALID = "invalid"
    REQUIRED = "required"
    MISSING = "missing"
    UNKNOWN_FIELD = "unknown_field"
    CONFLICT = "conflict"
    MISSING_GRANT = "missing_grant"
    INVALID_FILTER = "invalid_filter"
    INVALID_SCHEDULE = "invalid_schedule"


class DeployFailed(ApiError):
    """The code did not load in the sandbox; details carry the user's traceback and output."""

    code, http_status, default_message = FunctionsCode.DEPLOY_FAILED, 400, "The function failed to load."


class SandboxUnavailable(ApiError):
    """No working sandbox (bubblewrap missing or unable to start one) and unsafe-local not chosen:
    no function code may run. The message says how to install bubblewrap and the opt-in."""

    code, http_status, default_message = (
        FunctionsCode.SANDBOX_UNAVAILABLE,
        503,
        "Functions cannot run: no working sandbox.",
    )
