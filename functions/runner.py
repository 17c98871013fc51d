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


def run_invocations(invocation_ids: list[str]) -> None:
    """Run several queued invocations, in rounds: each round claims up to FUNCTIONS_CLAIM_BATCH of
    one function's version at once (delivery.claim_round: the order, concurrency and deadline
    rules of a single claim), runs them one after the other in this process's warm sandbox, and
    records their successes in one statement; a failure is recorded on its own (retry, dead).
    Rate-limited functions are claimed one at a time."""
    pending: list[Any] = list(invocation_ids)
    while pending:
        round_, rest = delivery.claim_round(pending, limit=settings.FUNCTIONS_CLAIM_BATCH)
        if round_ is None and rest and len(rest) >= len(pending):
            _run_guarded(rest[0])  # it must be claimed alone
            rest = rest[1:]
        elif round_ is not None:
            _run_round(round_)
        pending = rest


def _run_guarded(invocation_id: Any) -> None:
    try:
        run_invocation(invocation_id)
    except Exception:
        # One failing in the platform must not strand the rest of its message: its row stays as it
        # was (queued or running) and the sweep takes it up.
        logger.exception("running an invocation failed", extra={"invocation": str(invocation_id)})


def _run_round(round_: delivery.Round) -> None:
    succeeded: list[tuple[Invocation, Any, str, bool | None]] = []
    unrun = list(round_.invocations)
    try:
        while unrun:
            # Keep the deadline ahead of the next run (and of the successes not yet recorded).
            kept = delivery.keep_round(round_, [*(row for row, *_ in succeeded), *unrun])
            mine = {str(row.pk) for row in kept}
            unrun = [row for row in unrun if str(row.pk) in mine]
            if not unrun:
                break
            invocation = unrun.pop(0)
            ok, value, logs, cold = _run_claimed(invocation)
            if ok:
                succeeded.append((invocation, value, logs, cold))
    finally:
        # Recorded even if a run raised out of here: those rows are done (a worker killed before
        # this leaves them running, and the sweep re-runs them after the deadline: at least once).
        delivery.finish_succeeded(succeeded)


def _run_claimed(invocation: Invocation) -> tuple[bool, Any, str, bool | None]:
    """Run a claimed invocation of a round. A success comes back storable for the caller to record
    with the round's; anything else is recorded here, as `run_invocation` does."""
    cold: list[bool] = []
    try:
        outcome = _execute(invocation, cold)
    except (SandboxUnavailable, SecretsUnreadable) as refused:
        _record_refusal(invocation, refused)
        return False, None, "", None
    except Exception:
        logger.exception("invocation failed inside the platform", extra={"invocation": str(invocation.pk)})
        outcome = Outcome(ok=False, error=dict(_PLATFORM_ERROR))
    cold_start = cold[0] if cold else None
    if outcome.ok and invocation.trigger != "http":
        try:
            return True, delivery.storable(outcome.value), delivery.storable_text(outcome.logs), cold_start
        except delivery.NotStorable:
            pass  # `finish` records it as result_not_storable
    _record(invocation, outcome, cold_start)
    return False, None, "", None


def _record(invocation: Invocation, outcome: Outcome, cold_start: bool | None) -> str:
    """Record one run's outcome (an HTTP answer judged first) and wake a caller waiting for it."""
    if invocation.trigger == "http" and outcome.ok:
        outcome = checked_http_answer(outcome)
    status = delivery.finish(
        invocation, ok=outcome.ok, value=outcome.value, error=outcome.error, logs=outcome.logs, cold_start=cold_start
    )
    _announce(invocation)
    return status


def _record_refusal(invocation: Invocation, refused: SandboxUnavailable | SecretsUnreadable) -> str:
    # No working sandbox (and no explicit unsafe-local), or secrets no configured key opens: the
    # code must not run at all. The invocation ends now with that code (dead letters for events:
    # retryable by hand once the operator fixed it), instead of burning retries, running without
    # its secrets, or falling back to an unsandboxed run.
    logger.error("invocation not run: %s", refused.code, extra={"invocation": str(invocation.pk)})
    status = delivery.finish(invocation, ok=False, value=None, error=refusal_error(refused), logs="", retry=False)
    _announce(invocation)
    return status


def _announce(invocation: Invocation) -> None:
    if invocation.trigger == "http":
        waiting.announce_finished(invocation.pk)  # its caller may be waiting (PostgreSQL: NOTIFY)


_PLATFORM_ERROR = {
    "type": "PlatformError",
    "code": InvocationCode.INTERNAL_ERROR,
    "message": "The platform failed to run this invocation.",
    "traceback": "",
}


def run_invocation(invocation_id: str) -> str | None:
    """Run a queued invocation once. Returns its status afterwards, or None if there was nothing
    to do (already claimed or finished, unknown, or it must wait: functions/delivery.py). Safe to
    call twice for one id: only one run claims the row."""
    invocation = delivery.claim(invocation_id)
    if invocation is None:
        return None
    cold: list[bool] = []
    try:
        outcome = _execute(invocation, cold)
    except (SandboxUnavailable, SecretsUnreadable) as refused:
        return _record_refusal(invocation, refused)
    except Exception:
        logger.exception("invocation failed inside the platform", extra={"invocation": invocation_id})
        outcome = Outcome(ok=False, error=dict(_PLATFORM_ERROR))
    return _record(invocation, outcome, cold[0] if cold else None)


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


def _execute(invocation: Invocation, cold: list[bool]) -> Outcome:
    """Run the invocation in a sandbox of its version; appends to `cold` whether that sandbox had
    to be started for it (a failed start counts as cold)."""
    version = invocation.version
    kind = isolation()  # before anything else: raises SandboxUnavailable when no sandbox works
    pool = get_pool()
    try:
        spec = services.spec_for(version)
        sandbox, warm = pool.acquire(spec, kind)
    except LoadFailed as failed:
        cold.append(True)
        return Outcome(ok=False, error=failed.error, logs=failed.logs)
    except SandboxFailure as failure:
        cold.append(True)
        return Outcome(ok=False, error=failure.as_error())
    cold.append(not warm)
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
