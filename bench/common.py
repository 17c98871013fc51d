"""Helpers the benchmark scripts share: ports, health waits, process-tree memory."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url):
            return
        time.sleep(0.1)
    raise SystemExit(f"no healthy answer from {url}")


def tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid and child not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def process_tree(root: int) -> list[int]:
    """A process and its live descendants (Linux /proc). The children of every thread: sandboxes
    are started by a thread of their own (functions/sandbox/zygote.py)."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                pending += [int(child) for child in children.read_text().split()]
            except OSError:  # the thread ended meanwhile
                continue
    return found


def cpu_seconds(pid: int, *, waited_children: bool = False) -> float:
    """User + system CPU of one process (all its threads), 0 when it is gone; with
    `waited_children`, also that of the children it has waited for (those that are gone)."""
    try:
        fields = _stat_fields(f"/proc/{pid}/stat")
    except OSError:
        return 0.0
    ticks = sum(int(value) for value in fields[11 : 15 if waited_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pids: list[int]) -> dict[tuple[int, int], tuple[str, float, float]]:
    """Per thread of these processes: its name and user and system CPU seconds so far."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            tids = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                fields = _stat_fields(f"/proc/{pid}/task/{tid}/stat")
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            except OSError:
                continue
            found[(pid, tid)] = (name, int(fields[11]) / tick, int(fields[12]) / tick)
    return found


def _stat_fields(path: str) -> list[str]:
    """The fields of a /proc stat file after the command name (which may hold spaces and
    parentheses): index 11 is user CPU in ticks, 12 system, 13 and 14 waited-for children's."""
    return Path(path).read_text().rsplit(")", 1)[1].split()


def fresh_database(url: str) -> None:
    """Drop and create the PostgreSQL database `url` names (through the server's `postgres` one)."""
    import psycopg

    admin, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


# TCP states as /proc/net/tcp writes them.
TCP_ESTABLISHED, TCP_LISTEN = "01", "0A"


def tcp_sockets(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets on local `port` in `state` (TCP_ESTABLISHED, TCP_LISTEN)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def sockets_of(pid: int) -> set[str]:
    """Inodes of the sockets process `pid` holds (empty when it is gone)."""
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return set()
    found = set()
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed meanwhile
            link = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            if link.startswith("socket:["):
                found.add(link[len("socket:[") : -1])
    return found
