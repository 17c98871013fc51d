"""Realtime figures on PostgreSQL + Redis, server and load generator on this machine.

    .venv/bin/python bench/realtime.py [--idle 10000] [--subscribers 5000] [--rooms 100]
                                       [--rate 200] [--seconds 20] [--generators 2] [--workers 1]

1. Idle connections held by one server process, and its memory per connection.
2. Subscribers spread over rooms (`filter: room == "rN"`, so each write matches
   subscribers/rooms of them) while a separate writer process commits --rate documents a second
   through the documents service: commit-to-client latency p50/p95/p99 and deliveries a second.
   Latency runs from the writer's clock right after the commit returns (and, for comparison with
   older figures, from the document's `updated_at`, taken just before the commit) to the moment
   the subscriber's receive loop gets the message; same machine, same clock.
Processes: 1 server (uvicorn), 1 writer, --generators load generators (each holds its share of
the subscribers and only timestamps what arrives; parsing waits until the end), and this one,
which holds the idle connections and coordinates.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import websockets
from baas_client import create_client

ROOT = Path(__file__).resolve().parent.parent
# The project's packages before this folder's scripts (bench/documents.py is not `documents`).
sys.path.insert(0, str(ROOT))
BAAS = str(Path(sys.executable).with_name("baas"))

from bench.common import fresh_database, process_tree, wait_healthy  # noqa: E402


def run_fast(coroutine) -> None:  # type: ignore[no-untyped-def]
    """Run on uvloop when it is installed (it is a dependency of uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def rss_kib(pid: int) -> int:
    """The resident memory of a process and its descendants (the workers of `--workers N`)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


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
            *(
                websockets.connect(url, ping_interval=None, max_queue=None, open_timeout=120)
                for _ in range(min(batch, count - start))
            )
        )
        sockets.extend(opened)
    return sockets


async def idle_figures(url: str, server_pid: int, count: int, processes: str) -> None:
    before = rss_kib(server_pid)
    started = time.perf_counter()
    sockets = await open_connections(url, count)
    opened = time.perf_counter() - started
    await asyncio.sleep(3)
    after = rss_kib(server_pid)
    per = (after - before) / max(1, len(sockets))
    print(f"idle: {len(sockets):,} connections on {processes} in {opened:.1f} s; "
          f"server RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB = {per:.1f} KiB per connection")  # fmt: skip
    await asyncio.gather(*(socket.close() for socket in sockets))


async def _subscribe(url: str, count: int, first: int, rooms: int) -> list:
    sockets = await open_connections(url, count)
    for index, socket in enumerate(sockets, start=first):
        request = {"op": "subscribe", "id": "s", "collection": "chat", "filter": f'room == "r{index % rooms}"'}
        try:
            await socket.send(json.dumps(request))
        except websockets.ConnectionClosed as closed:
            raise SystemExit(f"subscriber {index} was closed: received {closed.rcvd}, sent {closed.sent}") from None
    for socket in sockets:
        json.loads(await socket.recv())  # subscribed
    return sockets


async def generate(url: str, count: int, first: int, rooms: int, results: str) -> None:
    """One load-generator process: subscribes its share of clients, then only timestamps what
    arrives (parsing waits until the end, so the receive loop adds as little delay as possible)."""
    sockets = await _subscribe(url, count, first, rooms)
    # A full garbage collection over thousands of client connections pauses this process for
    # 100+ ms, which would show up as delivery latency: none while measuring (the run is short).
    gc.collect()
    gc.freeze()
    gc.disable()
    received: list[tuple[float, str]] = []
    note = received.append
    clock = time.time

    async def reader(socket) -> None:  # type: ignore[no-untyped-def]
        async for raw in socket:
            note((clock(), raw))

    readers = [asyncio.ensure_future(reader(socket)) for socket in sockets]
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the bench says when the writer is done
    # Then wait for the changes still on their way: until none came for 2 s (at most a minute).
    asked = clock()
    while clock() - max(asked, received[-1][0] if received else asked) < 2 and clock() - asked < 60:
        await asyncio.sleep(0.1)
    print("drained", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the bench has read the CPU figures
    for task in readers:
        task.cancel()
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)
    with open(results, "w") as out:
        for at, raw in received:
            message = json.loads(raw)
            if message.get("op") == "change":
                doc = message["doc"]
                out.write(f"{doc['id']} {doc['updated_at']} {at}\n")
            elif message.get("op") == "error":
                out.write(f"error {message['code']} {at}\n")


def percentiles(values: list[float]) -> str:
    values = sorted(values)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(len(values) * p))]

    return f"p50 {pct(0.5):.1f} ms, p95 {pct(0.95):.1f} ms, p99 {pct(0.99):.1f} ms, max {values[-1]:.1f} ms"


def load_figures(url: str, args: argparse.Namespace, writer_env: dict[str, str], server_pid: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="baas-bench-rt-load-"))
    share = [
        args.subscribers // args.generators + (i < args.subscribers % args.generators) for i in range(args.generators)
    ]
    generators = []
    for index, count in enumerate(share):
        command = [sys.executable, __file__, "--generate", url, "--subscribers", str(count), "--rooms", str(args.rooms)]
        command += ["--first", str(sum(share[:index])), "--results", str(work / f"gen{index}.txt")]
        generators.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    for generator in generators:
        if generator.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            raise SystemExit("a load generator failed to subscribe")
    pids = {"server": process_tree(server_pid), "generators": [g.pid for g in generators]}
    before = {name: sum(cpu_seconds(pid) for pid in group) for name, group in pids.items()}
    started = time.monotonic()
    commits = work / "commits.txt"
    command = [sys.executable, __file__, "--write", str(args.rate), "--seconds", str(args.seconds)]
    writer = subprocess.Popen([*command, "--rooms", str(args.rooms), "--results", str(commits)], env=writer_env)
    writer_cpu = 0.0
    while writer.poll() is None:
        with contextlib.suppress(OSError):
            writer_cpu = cpu_seconds(writer.pid)
        time.sleep(0.2)
    if writer.returncode:
        for generator in generators:
            generator.kill()
        raise SystemExit(f"the writer failed (exit status {writer.returncode})")
    for generator in generators:
        generator.stdin.write("stop\n")  # type: ignore[union-attr]
        generator.stdin.flush()  # type: ignore[union-attr]
    for generator in generators:
        generator.stdout.readline()  # type: ignore[union-attr]  # drained
    elapsed = time.monotonic() - started
    used = {name: sum(cpu_seconds(pid) for pid in group) - before[name] for name, group in pids.items()}
    cpu = {name: seconds / elapsed * 100 for name, seconds in used.items()}
    for generator in generators:
        generator.communicate("go\n", timeout=120)
    committed = dict(line.split() for line in commits.read_text().splitlines())
    from_update, from_commit, seen, errors = [], [], set(), []
    for index in range(len(generators)):
        for line in (work / f"gen{index}.txt").read_text().splitlines():
            doc_id, written, received = line.split()
            if doc_id == "error":
                errors.append(written)
                continue
            at = float(received)
            from_update.append((at - datetime.fromisoformat(written.replace("Z", "+00:00")).timestamp()) * 1000)
            from_commit.append((at - float(committed[doc_id])) * 1000)
            seen.add(doc_id)
    if not from_update:
        raise SystemExit("no change reached a subscriber")
    seconds = max(args.seconds, elapsed - 2)  # delivery ends 2 s before the generators call it done
    expected = len(committed) * args.subscribers // args.rooms
    print(f"load: {args.subscribers:,} subscribers in {args.rooms} rooms over {args.generators} load-generator "
          f"processes, {args.rate} writes/s for {args.seconds} s "
          f"(each write matches {args.subscribers // args.rooms})")  # fmt: skip
    print(f"  {len(committed):,} writes committed; deliveries {len(from_update):,} of {expected:,} expected "
          f"= {len(from_update) / seconds:,.0f}/s; {len(committed) - len(seen)} writes reached nobody; "
          f"errors: {errors or 'none'}")  # fmt: skip
    print(f"  latency, after-commit time in the writer -> receipt: {percentiles(from_commit)}")
    print(f"  latency, updated_at (before commit) -> receipt:     {percentiles(from_update)}")
    print(f"  CPU from the first write until delivery ended ({elapsed:.1f} s), % of one core: server "
          f"{cpu['server']:.0f}% ({used['server'] / max(1, len(from_update)) * 1e6:.0f} µs per delivery), "
          f"load generators {cpu['generators']:.0f}% (sum), writer {writer_cpu / args.seconds * 100:.0f}%; "
          f"the machine has {os.cpu_count()} cores")  # fmt: skip


def write(rate: int, seconds: int, rooms: int, results: str) -> None:
    """The writer process: documents through the service API, at a steady rate. Notes each
    document's commit time (right after the commit returns) for the latency figures."""
    import django

    django.setup()
    import threading

    # A garbage collection between a commit and noting its time would shorten the figures.
    gc.collect()
    gc.freeze()
    gc.disable()

    from django.db import connection

    from baas.principals import Principal
    from documents import services

    service = Principal(kind="service", id="service:bench", role="service")
    threads = 4  # one thread cannot commit 200 writes a second through the service on 2 loaded cores
    commits: list[tuple[str, float]] = []

    def steady(offset: float) -> None:
        interval = threads / rate
        deadline = time.monotonic() + seconds
        next_at = time.monotonic() + offset
        while time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.monotonic()))
            data = {"room": f"r{random.randrange(rooms)}"}
            doc = services.create_document(principal=service, collection="chat", data=data)
            commits.append((doc["id"], time.time()))
            next_at += interval
        connection.close()

    workers = [threading.Thread(target=steady, args=(index / rate,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    Path(results).write_text("".join(f"{doc_id} {at}\n" for doc_id, at in commits))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=5_000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (docker-compose.yml runs 2)")
    parser.add_argument("--write", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--generate", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_h_rt_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    if args.write:
        write(args.write, args.seconds, args.rooms, args.results)
        return
    if args.generate:
        raise_fd_limit()
        run_fast(generate(args.generate, args.subscribers, args.first, args.rooms, args.results))
        return
    raise_fd_limit()
    fresh_database(args.database_url)
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
        [BAAS, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/v1/health", timeout=60)  # a loaded machine may take a while
        with create_client(f"http://127.0.0.1:{port}", service_key=key) as admin:
            admin.request("POST", "/v1/db/collections", json_body={"name": "chat", "rules": {"read": "true"}})
        # The load itself stays on raw websockets: thousands of sockets in a few processes measure the
        # server, where one SDK client (one socket, its own bookkeeping) per subscriber would not fit.
        url = f"ws://127.0.0.1:{port}/v1/realtime"
        processes = "1 server process" if args.workers == 1 else f"{args.workers} server worker processes"
        print(f"server: baas serve, {processes} (pid {server.pid}); PostgreSQL 15, Redis; writer: 1 process")
        asyncio.run(idle_figures(url, server.pid, args.idle, processes))
        load_figures(url, args, env, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
