"""Warm sandboxes, per worker process.

A sandbox with the function's module imported serves later invocations of the same version, so
module-level state survives between them (like a Lambda execution environment). A sandbox is
checked out by one invocation at a time; when it comes back healthy it waits idle, until the
idle timeout, its reuse count or the pool's size retires it (least recently used first). A sandbox
that crashed, timed out, flooded its output or broke the protocol is never returned.

One pool per process: under Celery's threads pool every thread shares it; under prefork each child
has its own (the pool notices a fork and starts empty).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict

from django.conf import settings

from functions.sandbox import zygote
from functions.sandbox.process import SandboxProcess, SandboxSpec

logger = logging.getLogger("baas.functions.sandbox")


class SandboxPool:
    def __init__(self, *, size: int, idle_seconds: float, max_uses: int) -> None:
        self.size = size
        self.idle_seconds = idle_seconds
        self.max_uses = max_uses
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # an idle sandbox came back, a prewarm ended
        self._warming: dict[str, int] = {}  # key → prewarms starting now
        # (key, serial) → idle sandbox, oldest use first
        self._idle: OrderedDict[tuple[str, int], SandboxProcess] = OrderedDict()
        self._serial = 0
        self._busy = 0
        self._reaper: threading.Thread | None = None
        self.started = 0  # sandboxes started by this pool (for tests and metrics)

    def acquire(self, spec: SandboxSpec, isolation: object) -> tuple[SandboxProcess, bool]:
        """A ready sandbox for `spec` and whether it was warm. May raise LoadFailed/SandboxFailure.

        While a prewarm of the same version is starting, waits for it rather than starting a
        second sandbox beside it (a deploy's first call usually arrives during its prewarm)."""
        self._ensure_reaper()
        retired: list[SandboxProcess] = []
        found = None
        give_up = time.monotonic() + spec.limits.load_timeout
        with self._changed:
            while True:
                found = self._take_idle(spec.key, retired)
                remaining = give_up - time.monotonic()
                if found is not None or not self._warming.get(spec.key) or remaining <= 0:
                    break
                self._changed.wait(remaining)
            self._busy += 1
        for sandbox in retired:
            sandbox.kill()
        if found is not None:
            return found, True
        return self._start(spec, isolation), False

    def prewarm(self, spec: SandboxSpec, isolation: object) -> bool:
        """Start an idle sandbox for `spec` unless one is idle or starting. Returns whether it
        started one. May raise LoadFailed/SandboxFailure."""
        with self._changed:
            if self._warming.get(spec.key) or any(slot[0] == spec.key for slot in self._idle):
                return False
            self._warming[spec.key] = self._warming.get(spec.key, 0) + 1
        with self._lock:
            self._busy += 1
        try:
            sandbox = self._start(spec, isolation)
        finally:
            with self._changed:
                self._warming[spec.key] -= 1
                if not self._warming[spec.key]:
                    del self._warming[spec.key]
                self._changed.notify_all()
        self.release(sandbox)
        return True

    def _start(self, spec: SandboxSpec, isolation: object) -> SandboxProcess:
        """A new sandbox for a caller already counted as busy (uncounted again if it fails)."""
        try:
            sandbox = zygote.start(spec, isolation)
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise
        with self._lock:
            self.started += 1
        return sandbox

    def _take_idle(self, key: str, retired: list[SandboxProcess]) -> SandboxProcess | None:
        for slot in [slot for slot in self._idle if slot[0] == key]:
            sandbox = self._idle.pop(slot)
            if self._usable(sandbox):
                return sandbox
            retired.append(sandbox)
        return None

    def release(self, sandbox: SandboxProcess) -> None:
        retired = []
        with self._changed:
            self._busy -= 1
            if self._usable(sandbox, idled=False) and self.size > 0:
                self._serial += 1
                self._idle[(sandbox.spec.key, self._serial)] = sandbox
                while len(self._idle) > self.size:
                    _, oldest = self._idle.popitem(last=False)
                    retired.append(oldest)
            else:
                retired.append(sandbox)
            self._changed.notify_all()
        for old in retired:
            old.kill()

    def discard(self, sandbox: SandboxProcess) -> None:
        with self._lock:
            self._busy -= 1
        sandbox.kill()

    def _usable(self, sandbox: SandboxProcess, *, idled: bool = True) -> bool:
        """Whether a sandbox may serve again; `idled`: it sat idle since it came back, and must not
        have used CPU meanwhile (work its last invocation left behind, such as a timer)."""
        return (
            sandbox.alive
            and sandbox.uses < self.max_uses
            and time.monotonic() - sandbox.last_used < self.idle_seconds
            and not (idled and sandbox.stirred())
        )

    def retire(self, key_prefix: str | None = None) -> int:
        """Stop idle sandboxes (of one function version prefix, or all). Returns how many."""
        with self._lock:
            slots = [slot for slot in self._idle if key_prefix is None or slot[0].startswith(key_prefix)]
            victims = [self._idle.pop(slot) for slot in slots]
        for sandbox in victims:
            sandbox.kill()
        return len(victims)

    def sweep(self) -> None:
        with self._lock:
            stale = [slot for slot, sandbox in self._idle.items() if not self._usable(sandbox)]
            victims = [self._idle.pop(slot) for slot in stale]
        for sandbox in victims:
            sandbox.kill()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"idle": len(self._idle), "busy": self._busy, "started": self.started}

    def _ensure_reaper(self) -> None:
        if self._reaper is not None and self._reaper.is_alive():
            return
        self._reaper = threading.Thread(target=self._reap_forever, daemon=True, name="sandbox-reaper")
        self._reaper.start()

    def _reap_forever(self) -> None:
        interval = max(0.5, min(self.idle_seconds / 4, 30.0))
        while True:
            time.sleep(interval)
            try:
                self.sweep()
            except Exception:
                logger.warning("sandbox sweep failed", exc_info=True)


_pool: SandboxPool | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def get_pool() -> SandboxPool:
    """This process's pool (a forked child starts its own, empty one)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = SandboxPool(
                size=settings.FUNCTIONS_POOL_SIZE,
                idle_seconds=settings.FUNCTIONS_POOL_IDLE_SECONDS,
                max_uses=settings.FUNCTIONS_POOL_MAX_USES,
            )
            _pool_pid = os.getpid()
        return _pool
