"""How functions, versions and invocations look in the API: every answer that shows one is built
here. Timestamps go through `baas.timestamps.rfc3339`, the API's one format."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

from baas.errors import error_body
from baas.timestamps import rfc3339
from baas_runtime import _http
from functions.errors import InvocationCode, SandboxUnavailable
from functions.models import Function, FunctionVersion, Invocation


def version_repr(version: FunctionVersion, *, active_id: int | None) -> dict[str, Any]:
    return {
        "function": version.function.name,
        "version": version.number,
        "active": version.pk == active_id,
        "entry": version.entry,
        "runtime": version.runtime,
        "timeout": version.timeout,
        "memory": version.memory,
        "env": version.env,
        "secrets": version.secret_names,  # names only: values never leave the server
        "network": version.network,
        "permissions": version.permissions,
        "max_retries": version.max_retries,
        "concurrency": version.concurrency,
        "rate_per_minute": version.rate_per_minute,
        "invoke": version.invoke,
        "triggers": version.triggers,
        "files": version.files,
        "size": version.size,
        "digest": version.digest,
        "created_at": rfc3339(version.created_at),
        "created_by": version.created_by,
    }


def function_repr(function: Function) -> dict[str, Any]:
    active = function.active_version
    return {
        "name": function.name,
        "version": active.number if active else None,
        "runtime": active.runtime if active else None,
        "active_version": version_repr(active, active_id=active.pk) if active else None,
        "created_at": rfc3339(function.created_at),
        "updated_at": rfc3339(function.updated_at),
    }


UNEXPLAINED_FAILURE = "The function failed."


def public_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """An error as a caller who is not the owner sees it: the code and message the function (or the
    platform) chose, nothing else (no traceback, no details). An error carries a code only when it
    was chosen — an exception with a string `code` attribute (e.g. `baas_runtime.BaasError(message,
    code=...)`), or a platform failure (`timeout`, `sandbox_unavailable`…); any other exception's
    text may hold anything (`KeyError(<a secret>)`), so the caller gets a fixed message instead."""
    if not error:
        return error
    if not error.get("code"):
        return {"type": error.get("type"), "code": InvocationCode.FUNCTION_ERROR, "message": UNEXPLAINED_FAILURE}
    return {"type": error.get("type"), "code": error["code"], "message": error.get("message") or ""}


def invocation_repr(invocation: Invocation, *, for_owner: bool) -> dict[str, Any]:
    """An invocation for the API. Its logs and the error's traceback only `for_owner`
    (`selectors.may_see_internals`)."""
    return {
        "id": str(invocation.pk),
        "function": invocation.function.name,
        "version": invocation.version.number,
        "trigger": invocation.trigger,
        "handler": invocation.handler,
        "event_id": invocation.event_id,
        "seq": invocation.seq,
        "depth": invocation.depth,
        "status": invocation.status,
        "waiting": invocation.waiting or None,
        "attempts": invocation.attempts,
        "max_attempts": invocation.max_attempts,
        "next_attempt_at": rfc3339(invocation.not_before) if invocation.status in Invocation.UNFINISHED else None,
        "event_at": rfc3339(invocation.event_at),
        "queue_delay_ms": invocation.queue_delay_ms,
        "created_at": rfc3339(invocation.created_at),
        "started_at": rfc3339(invocation.started_at),
        "finished_at": rfc3339(invocation.finished_at),
        "duration_ms": invocation.duration_ms,
        "logs": invocation.logs if for_owner else None,
        "result": invocation.result,
        "error": invocation.error if for_owner else public_error(invocation.error),
    }


def invoke_answer(invocation: Invocation, *, for_owner: bool) -> tuple[int, dict[str, Any]]:
    """The answer to a synchronous invoke once waited for (by the WSGI view, or by baas.asgi after a
    hand-off: functions/api/awaiting.py): 200 with the result when it finished, 202 without when it
    did not; 503 `sandbox_unavailable` when the worker had no sandbox to run it in."""
    if invocation.status not in Invocation.FINAL:
        return 202, {"invocation": invocation_repr(invocation, for_owner=for_owner)}
    error = invocation.error or {}
    if error.get("code") == SandboxUnavailable.code:
        message = error.get("message") or SandboxUnavailable.default_message
        return SandboxUnavailable.http_status, error_body(SandboxUnavailable.code, message)
    return 200, {"invocation": invocation_repr(invocation, for_owner=for_owner), "result": invocation.result}


# What the caller at /v1/functions/{name}/http/… gets when the invocation failed, by error code.
# Anything else the function raised is 500: a webhook sender retries on 5xx. A handler that wants
# to refuse a request (a bad signature: 400) returns an HttpResponse with that status instead.
HTTP_FAILURE_STATUS: dict[str, int] = {
    InvocationCode.TIMEOUT: 504,
    InvocationCode.CPU_LIMIT: 504,
    InvocationCode.INVALID_RESPONSE: 502,
    InvocationCode.SANDBOX_UNAVAILABLE: 503,
}
INVOCATION_HEADER = "x-baas-invocation-id"  # which invocation answered: the owner finds its logs

HttpAnswer = tuple[int, list[tuple[str, str]], bytes]


def http_answer(invocation: Invocation, *, for_owner: bool) -> HttpAnswer:
    """The answer to a request at `/v1/functions/{name}/http/…` once waited for (by the WSGI view,
    or by baas.asgi after a hand-off): the handler's own status, headers and body (an
    `HttpResponse`, on the wire `{"$http": …}`), or 200 with its plain result as JSON; a failed
    invocation in the API's error shape (`details.invocation` as `invoke` shows it); 202
    `{invocation}` when it has not finished in time."""
    headers = [(INVOCATION_HEADER, str(invocation.pk))]
    if invocation.status not in Invocation.FINAL:
        return 202, [*headers, *_JSON], _render({"invocation": invocation_repr(invocation, for_owner=for_owner)})
    if invocation.error:
        return _failure(invocation, headers, for_owner=for_owner)
    if _http.is_answer(invocation.result):
        try:  # the worker checked it (functions/runner.py); a row written before that is judged again
            status, answer_headers, body = _http.check_answer(invocation.result)
        except _http.InvalidAnswer as invalid:
            message = f"The function's HTTP answer was refused: {invalid}."
            return 502, [*headers, *_JSON], _render(error_body(InvocationCode.INVALID_RESPONSE, message))
        return status, [*headers, *answer_headers], body
    return 200, [*headers, *_JSON], _render(invocation.result)


_JSON = [("content-type", "application/json")]


def _failure(invocation: Invocation, headers: list[tuple[str, str]], *, for_owner: bool) -> HttpAnswer:
    error = invocation.error or {}
    if error.get("code") == SandboxUnavailable.code:
        message = error.get("message") or SandboxUnavailable.default_message
        return SandboxUnavailable.http_status, [*headers, *_JSON], _render(error_body(SandboxUnavailable.code, message))
    shown = (error if for_owner else public_error(error)) or {}
    code = str(shown.get("code") or InvocationCode.FUNCTION_ERROR)
    details = {"invocation": invocation_repr(invocation, for_owner=for_owner)}
    body = error_body(code, str(shown.get("message") or UNEXPLAINED_FAILURE), details)
    return HTTP_FAILURE_STATUS.get(code, 500), [*headers, *_JSON], _render(body)


def _render(data: Any) -> bytes:
    return b"null" if data is None else JSONRenderer().render(data)  # the renderer makes None empty
