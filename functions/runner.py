"""Running one invocation on a worker: claim the row, get a (warm) sandbox, invoke, record."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from baas_runtime import _http
from functions import delivery, services, waiting
from functions.bridge import Bridge
from functions.errors import InvocationCode, SandboxUnavailable
from functions.models import FunctionVersion, Invocation
from functions.sandbox import isolation, zygote
from functions.sandbox.pool import get_pool
from functions.sandbox.process import LoadFailed, Outcome, SandboxFailure
from functions.secrets import SecretsUnreadable

logger = logging.getLogger("baas.functions")


def run_invocation(invocation_id: str) -> str | None:
    """Run a queued invocation once. Returns its status afterwards, or None if there was nothing
    to do (already claimed or finished, unknown, or it must wait: functions/delivery.py). Safe to
    call twice for one id: only one run claims the row."""
    invocation = delivery.claim(invocation_id)
    if invocation is None:
        return None
    try:
        outcome = _execute(invocation)
    except (SandboxUnavailable, SecretsUnreadable) as refused:
        # No working sandbox (and no explicit unsafe-local), or secrets no configured key opens: the
        # code must not run at all. The invocation ends now with that code (dead letters for events:
        # retryable by hand once the operator fixed it), instead of burning retries, running
        # without its secrets, or falling back to an unsandboxed run.
        logger.error("invocation not run: %s", refused.code, extra={"invocation": invocation_id})
        error = refusal_error(refused)
        status = delivery.finish(invocation, ok=False, value=None, error=error, logs="", retry=False)
        if invocation.trigger == "http":
            waiting.announce_finished(invocation.pk)
        return status
    except Exception:
        logger.exception("invocation failed inside the platform", extra={"invocation": invocation_id})
        outcome = Outcome(
            ok=False,
            error={
                "type": "PlatformError",
                "code": InvocationCode.INTERNAL_ERROR,
                "message": "The platform failed to run this invocation.",
                "traceback": "",
            },
        )
    if invocation.trigger == "http" and outcome.ok:
        outcome = checked_http_answer(outcome)
    status = delivery.finish(invocation, ok=outcome.ok, value=outcome.value, error=outcome.error, logs=outcome.logs)
    if invocation.trigger == "http":
        waiting.announce_finished(invocation.pk)  # its caller may be waiting (PostgreSQL: NOTIFY)
    return status


def checked_http_answer(outcome: Outcome) -> Outcome:
    """An HTTP handler's answer (`{"$http": …}`, baas_runtime/_http.py) is judged here, whatever
    runtime wrote it: one the platform will not send fails the invocation with `invalid_response`
    (its owner reads why; the caller at /http/ gets 502), instead of failing in the web process."""
    if not _http.is_answer(outcome.value):
        return outcome
    try:
        _http.check_answer(outcome.value, max_body_bytes=settings.FUNCTIONS_HTTP_RESPONSE_MAX_BYTES)
    except _http.InvalidAnswer as invalid:
        error = {
            "type": "InvalidResponse",
            "code": InvocationCode.INVALID_RESPONSE,
            "message": f"The function's HTTP answer was refused: {invalid}.",
            "traceback": "",
        }
        return Outcome(ok=False, error=error, logs=outcome.logs, duration_ms=outcome.duration_ms)
    return outcome


def refusal_error(refused: SandboxUnavailable | SecretsUnreadable) -> dict[str, Any]:
    message = getattr(refused, "message", "") or str(refused)
    return {"type": type(refused).__name__, "code": refused.code, "message": message, "traceback": ""}


def _execute(invocation: Invocation) -> Outcome:
    version = invocation.version
    kind = isolation()  # before anything else: raises SandboxUnavailable when no sandbox works
    pool = get_pool()
    try:
        spec = services.spec_for(version)
        sandbox, _warm = pool.acquire(spec, kind)
    except LoadFailed as failed:
        return Outcome(ok=False, error=failed.error, logs=failed.logs)
    except SandboxFailure as failure:
        return Outcome(ok=False, error=failure.as_error())
    bridge = Bridge(
        function=invocation.function.name,
        version=version.number,
        permissions=list(version.permissions),
        invocation_id=str(invocation.pk),
        depth=invocation.depth,
    )
    ctx: dict[str, Any] = {
        "invocation_id": str(invocation.pk),
        "event_id": invocation.event_id,
        "attempt": invocation.attempts,
        "function": invocation.function.name,
        "version": version.number,
        "trigger": invocation.trigger,
    }
    try:
        outcome = sandbox.invoke(
            handler=invocation.handler, event=invocation.event, ctx=ctx, timeout=float(version.timeout), on_call=bridge
        )
    except BaseException:
        pool.discard(sandbox)
        raise
    if sandbox.broken:
        pool.discard(sandbox)
    else:
        pool.release(sandbox)
    return outcome


def prewarm(version_id: int) -> None:
    version = FunctionVersion.objects.select_related("function").filter(pk=version_id).first()
    if version is None:
        return
    # The first call reports any failure.
    with contextlib.suppress(LoadFailed, SandboxFailure, SandboxUnavailable, SecretsUnreadable):
        get_pool().prewarm(services.spec_for(version), isolation())
    # A deploy supersedes a version: this machine's old bundle folders may go (after the prewarm,
    # off the first call's path).
    services.clean_bundle_folders_soon()


@worker_process_init.connect
def _prestart_in_child(**_: object) -> None:
    """A prefork child runs invocations: give it its pre-started sandboxes now (zygote.py)."""
    _prestart()


@worker_ready.connect
def _prestart_in_worker(sender: Any = None, **_: object) -> None:
    """A threads or solo pool runs invocations in the main process; prefork's parent runs none."""
    pool = getattr(sender, "pool", None)
    if pool is not None and "prefork" not in type(pool).__module__:
        _prestart()


def _prestart() -> None:
    try:
        kind = isolation()
    except SandboxUnavailable:
        return  # logged at worker start; every invocation is refused with sandbox_unavailable
    zygote.prepare(kind)
