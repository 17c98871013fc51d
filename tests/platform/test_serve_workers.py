"""`baas serve --workers N`: each worker runs in a session of its own (so the kernel's per-session
CPU fairness weighs it like a PostgreSQL backend, baas/supervisor.py), and none outlives the
parent, even one killed outright. Each worker listens on a socket of its own, so the kernel
spreads new connections over them (baas/listening.py). A single-process server stays in its
caller's session, so a terminal's Ctrl-C still reaches it."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from pathlib import Path

import pytest

from bench.common import TCP_ESTABLISHED, TCP_LISTEN, sockets_of, tcp_sockets
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


def test_each_worker_listens_on_a_socket_of_its_own_and_connections_reach_both(tmp_path):
    server, marker, health = _start(tmp_path, "--workers", "2")
    port = int(health.split(":")[2].split("/")[0])
    try:
        parent = server.process.pid
        assert wait_until(lambda: _two_workers_in_own_sessions(parent), timeout=30), server.text
        workers = _serving_workers(parent)
        listening = tcp_sockets(port, TCP_LISTEN)
        # One listener per worker; the parent only holds the port (bound, never listening).
        assert len(listening) == 2
        assert all(len(sockets_of(worker) & listening) == 1 for worker in workers)
        assert not sockets_of(parent) & listening
        # Each on uvloop, as a single-process server is: the loop class that listens on its own
        # socket once derived from asyncio's pure-Python loop and left uvloop out.
        assert all(_runs_uvloop(worker) for worker in workers)

        # A burst of connections, as a client's pool opens them, lands on both workers.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            for client in clients:  # a request on each, so each has surely been accepted
                client.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert client.recv(64).startswith(b"HTTP/1.1 200")
            established = tcp_sockets(port, TCP_ESTABLISHED)
            held = [len(sockets_of(worker) & established) for worker in workers]
            assert sum(held) == 32 and min(held) > 0, held
        finally:
            for client in clients:
                client.close()
    finally:
        server.stop()
    assert processes_with_marker(marker) == []


def test_a_taken_port_is_a_clear_error(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        env = platform_env(uuid.uuid4().hex, BAAS_DATA_DIR=str(tmp_path))
        server = baas("serve", "--port", str(port), "--workers", "2", env=env)
        server.process.wait(timeout=60)
        assert server.stop() != 0
        assert f"cannot listen on 127.0.0.1:{port}" in server.text
    finally:
        taken.close()


def test_a_single_process_server_stays_in_its_callers_session(tmp_path):
    server, marker, _ = _start(tmp_path)
    try:
        assert os.getsid(server.process.pid) == os.getsid(0)
        assert _runs_uvloop(server.process.pid)
    finally:
        server.stop()
    assert processes_with_marker(marker) == []


def _runs_uvloop(pid: int) -> bool:
    """uvloop's extension is loaded in the process (nothing of ours imports it: only uvicorn's
    choice of loop does)."""
    return "/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
