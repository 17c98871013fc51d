"""Pre-started sandboxes ("zygotes"): the slow part of a cold start, paid before it is needed.

Starting a sandbox costs bubblewrap's namespaces, joining the cgroups (each cgroup v1 join waits
for an RCU grace period: ~10 ms apiece here), the interpreter and the runtime import (40 to 70 ms on
this kind of machine, against ~1 ms to import a small function). None of that depends on the
function: the launcher only learns its module, environment and limits from the `init` frame. So
each process that starts sandboxes (a worker, a web process that deploys) keeps
`FUNCTIONS_ZYGOTES` of them spawned, each with an empty folder of its own (a "slot") bound
read-only at `/function`. Taking one fills the slot with the version's files (hard links to the
content-addressed bundle folder), rewrites the cgroup limits for the version, and sends `init`.

What isolation keeps: a zygote is used once, by one version, and never goes back; it ran nothing
but the runtime before its version's files appeared; its slot holds only that version's files; its
rlimits and environment come from `init` as for any sandbox. Only `network: "none"` versions use
zygotes (an egress sandbox binds the worker's proxy socket and starts its forwarder at launch).

The zygotes are spawned by one long-lived thread per process: bwrap's `--die-with-parent` is a
parent-death signal tied to the thread that forked it, so a short-lived thread must never be
the one that starts a sandbox that outlives it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from functions.sandbox import paths
from functions.sandbox.process import PYTHON, Limits, SandboxFailure, SandboxProcess, SandboxSpec

logger = logging.getLogger("baas.functions.sandbox")

ZYGOTE_KEY = "zygote"


def start(spec: SandboxSpec, isolation: Any) -> SandboxProcess:
    """A sandbox for `spec` with its module imported: from a zygote when one fits, else started
    now. Raises LoadFailed or SandboxFailure."""
    sandbox = _keeper(isolation).take(spec) if _fits(spec) else None
    if sandbox is None:
        sandbox = SandboxProcess(spec, isolation)
        sandbox.spawn()
    sandbox.load()
    return sandbox


def prepare(isolation: Any) -> None:
    """Start this process's zygotes now (a worker or web process at start-up), not at first use."""
    if settings.FUNCTIONS_ZYGOTES > 0:
        _keeper(isolation).want()


def _fits(spec: SandboxSpec) -> bool:
    return (
        settings.FUNCTIONS_ZYGOTES > 0
        and spec.runtime == PYTHON  # a zygote is a started Python runtime; Deno starts cold, then stays warm
        and spec.network == "none"
        and spec.limits.tmp_bytes == settings.FUNCTIONS_TMP_BYTES  # the tmpfs size is fixed at launch
    )


def _zygote_limits() -> Limits:
    # The cgroup memory limit is rewritten for the version when a zygote is taken.
    return Limits.configured(timeout=1.0, memory_mb=settings.FUNCTIONS_MAX_MEMORY_MB, cpu_seconds=1)


def slots_root() -> Path:
    root = paths.sandbox_root() / "slots"
    root.mkdir(exist_ok=True)
    root.chmod(0o711)
    return root


def _fill_slot(slot: Path, spec: SandboxSpec) -> None:
    """Hard-link the bundle's files into the slot (a copy where linking fails). The slot then
    needs the bundle folder no more: a cleaner may remove that once the links exist."""
    lease = paths.lease(spec.code_dir)
    try:
        if not spec.code_dir.exists() and spec.files is not None:
            paths.code_dir(spec.code_dir.name, spec.files)
        _link_tree(spec.code_dir, slot)
    finally:
        if lease is not None:
            os.close(lease)


def _link_tree(source: Path, slot: Path) -> None:
    for folder, dirs, names in os.walk(source):
        relative = Path(folder).relative_to(source)
        for name in dirs:
            (slot / relative / name).mkdir(mode=0o755)
            os.chmod(slot / relative / name, 0o755)
        for name in names:
            try:
                os.link(Path(folder) / name, slot / relative / name)
            except OSError:
                shutil.copyfile(Path(folder) / name, slot / relative / name)
                os.chmod(slot / relative / name, 0o644)


class _Zygote(SandboxProcess):
    def __init__(self, spec: SandboxSpec, isolation: Any, slot: Path) -> None:
        super().__init__(spec, isolation)
        self.slot = slot


class _Keeper:
    def __init__(self, isolation: Any, count: int) -> None:
        self.isolation = isolation
        self.count = count
        self._ready: list[_Zygote] = []
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sandbox-zygotes")
        self._thread.start()

    def want(self) -> None:
        self._wanted.set()

    def take(self, spec: SandboxSpec) -> SandboxProcess | None:
        with self._lock:
            candidates, self._ready = self._ready, []
        self.want()  # refill, off this request's path
        taken = None
        for sandbox in candidates:
            if taken is None and sandbox.alive:
                taken = sandbox
            else:
                sandbox.kill()
        if taken is None:
            return None
        try:
            _fill_slot(taken.slot, spec)
            taken.assign(replace(spec))
        except (OSError, SandboxFailure):
            logger.warning("a pre-started sandbox could not take a function; starting a fresh one", exc_info=True)
            taken.kill()
            return None
        return taken

    def _run(self) -> None:
        pause = 1.0
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                while self._missing() > 0:
                    self._add_one()
                pause = 1.0
            except Exception:
                logger.warning("could not pre-start a sandbox; retrying in %.0f s", pause, exc_info=True)
                time.sleep(pause)
                pause = min(pause * 2, 60.0)
                self._wanted.set()

    def _missing(self) -> int:
        with self._lock:
            self._ready = [sandbox for sandbox in self._ready if sandbox.alive]
            return self.count - len(self._ready)

    def _add_one(self) -> None:
        slot = slots_root() / f"{os.getpid()}-{uuid.uuid4().hex}"
        slot.mkdir(mode=0o755)
        slot.chmod(0o755)
        spec = SandboxSpec(key=ZYGOTE_KEY, code_dir=slot, entry="", env={}, network="none", limits=_zygote_limits())
        sandbox = _Zygote(spec, self.isolation, slot)
        sandbox.on_kill.append(lambda: shutil.rmtree(slot, ignore_errors=True))
        try:
            sandbox.spawn()
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)
            raise
        with self._lock:
            self._ready.append(sandbox)


_keepers: dict[tuple[int, str], _Keeper] = {}
_keepers_lock = threading.Lock()


def _keeper(isolation: Any) -> _Keeper:
    """This process's keeper for an isolation kind (a forked child starts its own)."""
    key = (os.getpid(), isolation.NAME)
    with _keepers_lock:
        keeper = _keepers.get(key)
        if keeper is None:
            keeper = _keepers[key] = _Keeper(isolation, settings.FUNCTIONS_ZYGOTES)
        return keeper


def remove_stale_slots() -> int:
    """Slots of processes that are gone (killed before they could clean up). Returns how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for slot in slots_root().iterdir():
            pid = slot.name.split("-", 1)[0]
            if pid.isdigit() and not _process_exists(int(pid)):
                shutil.rmtree(slot, ignore_errors=True)
                removed += 1
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
