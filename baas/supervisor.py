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


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the signal handlers below still stop children
        pass


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
                list(child.argv), env=self.env, start_new_session=True, preexec_fn=_die_with_parent
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
