"""`baas serve --workers N`: each worker runs in a session of its own (so the kernel's per-session
CPU fairness weighs it like a PostgreSQL backend, baas/supervisor.py), and none outlives the
parent, even one killed outright. A single-process server stays in its caller's session, so a
terminal's Ctrl-C still reaches it."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.platform.processes import baas, http, platform_env, processes_with_marker, wait_until

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _serving_workers(parent: int) -> list[int]:
    """The uvicorn workers among the parent's children (multiprocessing also starts a resource
    tracker, which serves nothing)."""
    return [pid for pid in _children(parent) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _two_workers_in_own_sessions(parent: int) -> bool:
    workers = _serving_workers(parent)
    return len(workers) == 2 and all(os.getsid(pid) == pid for pid in workers)


def _start(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    marker = uuid.uuid4().hex
    port = free_port()
    server = baas("serve", "--port", str(port), *args, env=platform_env(marker, BAAS_DATA_DIR=str(tmp_path)))
    health = f"http://127.0.0.1:{port}/v1/health"
    assert wait_until(lambda: http("GET", health)[0] == 200, timeout=60), server.text
    return server, marker, health


def test_each_worker_has_a_session_of_its_own_and_none_outlives_a_killed_parent(tmp_path):
    server, marker, health = _start(tmp_path, "--workers", "2")
    parent = server.process.pid
    try:
        # Each worker leaves the parent's session once its app has started.
        assert wait_until(lambda: _two_workers_in_own_sessions(parent), timeout=30), server.text
        workers = _serving_workers(parent)
        assert os.getsid(parent) == os.getsid(0), "the parent itself stays in its caller's session"
        assert len({os.getsid(w) for w in workers}) == 2
        assert http("GET", health)[0] == 200

        os.kill(parent, signal.SIGKILL)  # no chance to stop its workers itself
        server.process.wait(timeout=10)
        assert wait_until(lambda: not any(map(_alive, workers)), timeout=20), processes_with_marker(marker)
    finally:
        server.kill()
        for pid in processes_with_marker(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_single_process_server_stays_in_its_callers_session(tmp_path):
    server, marker, _ = _start(tmp_path)
    try:
        assert os.getsid(server.process.pid) == os.getsid(0)
    finally:
        server.stop()
    assert processes_with_marker(marker) == []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
