"""A small process supervisor for `baas dev`: start children, stop them all together.

Each child runs in its own session (so a terminal's Ctrl-C reaches only the supervisor, which then
stops the children in order) and is told by the kernel to exit if the supervisor dies
(PR_SET_PDEATHSIG), so no process is ever left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger("baas.dev")

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the signal handlers below still stop children
        pass


# Set by `baas serve --workers N` (asgi) to its own pid; read once by each worker it starts.
SERVE_PARENT_ENV = "BAAS_SERVE_PARENT"


def serve_workers_in_own_sessions() -> None:
    """Called by `baas serve` before it starts its worker processes (see leave_parent_session)."""
    os.environ[SERVE_PARENT_ENV] = str(os.getpid())


def leave_parent_session() -> None:
    """In a worker process of `baas serve --workers N`: move to a session of its own, and exit
    when the parent does.

    Why: where the kernel groups processes by session for CPU fairness (autogroups: Linux's
    default for processes outside a cgroup of their own, such as services started from a shell),
    every PostgreSQL backend is a session of its own (the postmaster makes it one), while all the
    workers and their threads shared one. Under load the kernel then left single backends without
    CPU for up to 4.5 s while the others ran, and every request waiting on them waited as long:
    the get's p99 was 90-670 ms in eight of eight runs, 9-22 ms with a session per worker
    (docs/serving.md, "Tails"). The parent still stops its workers itself (uvicorn sends each a
    SIGTERM), and a worker whose parent is killed outright is told by the kernel to stop too.
    """
    parent = os.environ.pop(SERVE_PARENT_ENV, None)  # this worker's own children are not workers
    if parent is None or parent != str(os.getppid()):
        return
    die_with_parent()
    if os.getppid() != int(parent):  # the parent died before the kernel was told
        os.kill(os.getpid(), signal.SIGTERM)
        return
    with contextlib.suppress(OSError):  # already a session leader: nothing to leave
        os.setsid()


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    process: subprocess.Popen[bytes] | None = None


class Supervisor:
    def __init__(self, children: list[Child], *, env: dict[str, str], stop_timeout: float = 10.0) -> None:
        self.children = children
        self.env = env
        self.stop_timeout = stop_timeout
        self._stopping = False

    def start(self) -> None:
        for child in self.children:
            child.process = subprocess.Popen(
                list(child.argv), env=self.env, start_new_session=True, preexec_fn=die_with_parent
            )
            logger.info("started %s (pid %s)", child.name, child.process.pid)

    def request_stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        self._stopping = True

    def wait(self, poll_interval: float = 0.2) -> int:
        """Block until a stop is requested or a child exits; then stop every child.

        Returns 0 for a requested stop, 1 when a child died on its own.
        """
        failed: Child | None = None
        while not self._stopping:
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    failed = child
                    break
            if failed:
                logger.error("%s exited with code %s; stopping the others", failed.name, failed.process.returncode)
                break
            time.sleep(poll_interval)
        self.stop()
        return 1 if failed else 0

    def stop(self) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            self._signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s; killing it", child.name, self.stop_timeout)
                self._signal_group(child, signal.SIGKILL)
                child.process.wait()  # type: ignore[union-attr]
        # A child's own helpers (pool processes, sandboxes) live in its process group.
        for child in self.children:
            self._signal_group(child, signal.SIGKILL)

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        if child.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signum)
