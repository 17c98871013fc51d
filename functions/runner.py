"""Running one invocation on a worker: claim the row, get a (warm) sandbox, invoke, record."""

from __future__ import annotations

import logging
from typing import Any

from functions import delivery, services
from functions.bridge import Bridge
from functions.models import Invocation
from functions.sandbox import isolation
from functions.sandbox.pool import get_pool
from functions.sandbox.process import LoadFailed, Outcome, SandboxFailure

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
    except Exception:
        logger.exception("invocation failed inside the platform", extra={"invocation": invocation_id})
        outcome = Outcome(
            ok=False,
            error={
                "type": "PlatformError",
                "code": "internal_error",
                "message": "The platform failed to run this invocation.",
                "traceback": "",
            },
        )
    return delivery.finish(invocation, ok=outcome.ok, value=outcome.value, error=outcome.error, logs=outcome.logs)


def _execute(invocation: Invocation) -> Outcome:
    version = invocation.version
    pool = get_pool()
    try:
        spec = services.spec_for(version)
        sandbox, _warm = pool.acquire(spec, isolation())
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
    from functions.models import FunctionVersion

    version = FunctionVersion.objects.select_related("function").filter(pk=version_id).first()
    if version is None:
        return
    pool = get_pool()
    try:
        sandbox, _ = pool.acquire(services.spec_for(version), isolation())
    except (LoadFailed, SandboxFailure):
        return
    pool.release(sandbox)
