"""Start a throw-away `baas serve` (embedded defaults, its own data folder) for the benches."""

from __future__ import annotations

import http.client
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_DROPPED = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "STORAGE_URL", "CELERY_BROKER_URL")


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(baas: str, **env: str) -> Iterator[tuple[int, str, int]]:
    """(port, service key, server pid) of a fresh server run with the `baas` executable."""
    with tempfile.TemporaryDirectory(prefix="baas-bench-") as data:
        environ = {k: v for k, v in os.environ.items() if k not in _DROPPED}
        environ.update(BAAS_DATA_DIR=data, LOG_LEVEL="ERROR", **env)
        subprocess.run([baas, "migrate", "-v", "0"], env=environ, check=True)
        key = subprocess.run(
            [baas, "keys", "create", "bench"], env=environ, check=True, capture_output=True, text=True
        ).stdout.strip()
        port = free_port()
        log = open(Path(data) / "serve.log", "w")  # noqa: SIM115
        process = subprocess.Popen([baas, "serve", "--port", str(port)], env=environ, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/v1/health")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.3)
            yield port, key, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def tree_rss_bytes(pid: int) -> int:
    """RSS of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        pending.extend(children.get(current, []))
        try:
            for line in (Path("/proc") / str(current) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
