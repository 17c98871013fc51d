"""Realtime figures on PostgreSQL + Redis, server and load generator on this machine.

    .venv/bin/python bench/realtime.py [--idle 10000] [--subscribers 5000] [--rooms 100]
                                       [--rate 200] [--seconds 20]

1. Idle connections held by one server process, and its memory per connection.
2. Subscribers spread over rooms (`filter: room == "rN"`, so each write matches
   subscribers/rooms of them) while a separate writer process commits --rate documents a second
   through the documents service: commit-to-client latency p50/p95/p99 and deliveries a second.
Processes: 1 server (uvicorn), 1 writer, 1 load generator (this one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import websockets

ROOT = Path(__file__).resolve().parent.parent
# The project's packages before this folder's scripts (bench/documents.py is not `documents`).
sys.path.insert(0, str(ROOT))
BAAS = str(Path(sys.executable).with_name("baas"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def open_connections(url: str, count: int, batch: int = 200) -> list:
    sockets = []
    for start in range(0, count, batch):
        opened = await asyncio.gather(
            *(websockets.connect(url, ping_interval=None, max_queue=None) for _ in range(min(batch, count - start)))
        )
        sockets.extend(opened)
    return sockets


async def idle_figures(url: str, server_pid: int, count: int) -> None:
    before = rss_kib(server_pid)
    started = time.perf_counter()
    sockets = await open_connections(url, count)
    opened = time.perf_counter() - started
    await asyncio.sleep(3)
    after = rss_kib(server_pid)
    per = (after - before) / max(1, len(sockets))
    print(f"idle: {len(sockets):,} connections on 1 server process in {opened:.1f} s; "
          f"server RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB = {per:.1f} KiB per connection")  # fmt: skip
    await asyncio.gather(*(socket.close() for socket in sockets))


async def load_figures(url: str, args: argparse.Namespace, writer_env: dict[str, str], server_pid: int) -> None:
    sockets = await open_connections(url, args.subscribers)
    for index, socket in enumerate(sockets):
        room = f"r{index % args.rooms}"
        request = {"op": "subscribe", "id": "s", "collection": "chat", "filter": f'room == "{room}"'}
        try:
            await socket.send(json.dumps(request))
        except websockets.ConnectionClosed as closed:
            raise SystemExit(f"subscriber {index} was closed: received {closed.rcvd}, sent {closed.sent}") from None
    for socket in sockets:
        json.loads(await socket.recv())  # subscribed
    latencies: list[float] = []
    delivered = 0

    async def reader(socket) -> None:  # type: ignore[no-untyped-def]
        nonlocal delivered
        async for raw in socket:
            received = time.time()
            message = json.loads(raw)
            if message.get("op") == "change":
                written = datetime.fromisoformat(message["doc"]["updated_at"].replace("Z", "+00:00")).timestamp()
                latencies.append((received - written) * 1000)
                delivered += 1

    readers = [asyncio.ensure_future(reader(socket)) for socket in sockets]
    cpu_before = (cpu_seconds(server_pid), cpu_seconds(os.getpid()), time.monotonic())
    command = [sys.executable, __file__, "--write", str(args.rate), "--seconds", str(args.seconds)]
    writer = subprocess.Popen([*command, "--rooms", str(args.rooms)], env=writer_env)
    await asyncio.get_running_loop().run_in_executor(None, writer.wait)
    await asyncio.sleep(2)
    elapsed = time.monotonic() - cpu_before[2]
    server_cpu = (cpu_seconds(server_pid) - cpu_before[0]) / elapsed * 100
    client_cpu = (cpu_seconds(os.getpid()) - cpu_before[1]) / elapsed * 100
    for task in readers:
        task.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    latencies.sort()
    if not latencies:
        raise SystemExit("no change reached a subscriber")

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]

    expected = args.rate * args.seconds * args.subscribers // args.rooms
    print(f"load: {args.subscribers:,} subscribers in {args.rooms} rooms, {args.rate} writes/s for {args.seconds} s "
          f"(each write matches {args.subscribers // args.rooms} subscribers)")  # fmt: skip
    print(f"  deliveries {delivered:,} of ~{expected:,} expected = {delivered / args.seconds:,.0f}/s; "
          f"commit-to-client latency p50 {statistics.median(latencies):.1f} ms, p95 {pct(0.95):.1f} ms, "
          f"p99 {pct(0.99):.1f} ms")  # fmt: skip
    print(f"  CPU while loaded: server {server_cpu:.0f}% of a core, load generator {client_cpu:.0f}% "
          f"(the machine has {os.cpu_count()} cores)")  # fmt: skip


def write(rate: int, seconds: int, rooms: int) -> None:
    """The writer process: documents through the service API, at a steady rate."""
    import django

    django.setup()
    import threading

    from django.db import connection

    from baas.principals import Principal
    from documents import services

    service = Principal(kind="service", id="service:bench", role="service")
    threads = 4  # one thread cannot commit 200 writes a second through the service on 2 loaded cores

    def steady(offset: float) -> None:
        interval = threads / rate
        deadline = time.monotonic() + seconds
        next_at = time.monotonic() + offset
        while time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.monotonic()))
            data = {"room": f"r{random.randrange(rooms)}"}
            services.create_document(principal=service, collection="chat", data=data)
            next_at += interval
        connection.close()

    workers = [threading.Thread(target=steady, args=(index / rate,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=5_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--write", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_bench_rt")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    if args.write:
        write(args.write, args.seconds, args.rooms)
        return
    raise_fd_limit()
    admin = args.database_url.rsplit("/", 1)[0] + "/postgres"
    name = args.database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CHANNEL_PREFIX": f"bench{uuid.uuid4().hex[:6]}",
        "BAAS_DATA_DIR": tempfile.mkdtemp(prefix="baas-bench-rt-"),
        "LOG_LEVEL": "WARNING",
        "BAAS_REALTIME_IDLE_SECONDS": "3600",
        "DJANGO_SETTINGS_MODULE": "baas.settings",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run([BAAS, "migrate", "--noinput"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [BAAS, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen(
        [BAAS, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/db/collections",
            data=json.dumps({"name": "chat", "rules": {"read": "true"}}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request)
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        print(f"server: 1 uvicorn process (pid {server.pid}); PostgreSQL 15, Redis; load generator: 1 process")
        asyncio.run(idle_figures(url, server.pid, args.idle))
        asyncio.run(load_figures(url, args, env, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
