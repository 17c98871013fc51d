"""Document database figures against a live server on PostgreSQL.

    .venv/bin/python bench/documents.py [--interface wsgi|asgi] [--workers 2] [--threads 2] [--seconds 15]
                                        [--warmup 2] [--credential service-key|user] [--big 1000000]
                                        [--calls create,get,list,count] [--per-thread] [--listeners 0]
                                        [--database-url postgres://…/baas_bench]

Prints creates/s, gets/s, filtered lists/s and counts/s with p50/p99 (wrk, 16 connections) and the CPU
time the server processes and the PostgreSQL backends spent per request, and how the server's
worker processes split wrk's connections (the kernel gives each new connection to whichever
worker accepts first: 12 against 4 was common, for both interfaces, and the worker with 12 is then
short of CPU — a main cause of the swing between runs), then an
equality and a range query on a collection of --big documents, without and with a declared index.
The load generator runs on the same 2 cores as the server: figures are conservative.
`--credential user` sends a signed-up user's access token instead of a service key, so the
per-request session check is measured too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from baas_client import create_client  # noqa: E402

from bench.common import (  # noqa: E402
    TCP_ESTABLISHED,
    cpu_seconds,
    fresh_database,
    process_tree,
    sockets_of,
    tcp_sockets,
    thread_cpu_seconds,
    wait_healthy,
)

BAAS = str(Path(sys.executable).with_name("baas"))


def run(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout.strip()


def request(method: str, url: str, key: str, body: object = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=600) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wrk(script: str, url: str, env: dict[str, str], seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as combined:
        combined.write((HERE / "wrk" / script).read_text() + "\n" + (HERE / "wrk" / "report.lua").read_text())
    output = run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "5s", "-s", combined.name, url], env)
    os.unlink(combined.name)
    match = re.search(r"RESULT rps=([\d.]+) p50=([\d.]+) p99=([\d.]+) errors=(\d+)", output)
    if not match:
        raise SystemExit(f"wrk said:\n{output}")
    return {"rps": float(match[1]), "p50": float(match[2]), "p99": float(match[3]), "errors": int(match[4])}


def connections_per_process(root: int, port: int) -> list[int]:
    """Established connections to `port` held by each process of the server's tree, largest first."""
    established = tcp_sockets(port, TCP_ESTABLISHED)
    counts = [len(sockets_of(pid) & established) for pid in process_tree(root)]
    return sorted((count for count in counts if count), reverse=True)


def sample_split(into: list[int], root: int, port: int) -> None:
    into.extend(connections_per_process(root, port))


def cpu_of(server_pids: list[int], dsn: str) -> tuple[float, float]:
    """CPU seconds used so far by the server's processes (and their descendants) and by the
    database's backends."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        backends = [pid for (pid,) in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )]  # fmt: skip
    server = [pid for root in server_pids for pid in process_tree(root)]
    return sum(map(cpu_seconds, server)), sum(map(cpu_seconds, backends))


def print_thread_cpu(
    before: dict[tuple[int, int], tuple[str, float, float]],
    after: dict[tuple[int, int], tuple[str, float, float]],
    requests: float,
) -> None:
    """Each server thread that worked during the run: its CPU per request (of all the server's
    requests), user and system. Under `baas serve` (asgi) a worker's main thread is its event loop
    and the others that work are its REST threads; granian names its I/O and Python threads
    tokio-rt-worker (the I/O one is the one with little CPU)."""
    for (pid, tid), (name, user, system) in sorted(after.items()):
        _, user_before, system_before = before.get((pid, tid), (name, 0.0, 0.0))
        used_user, used_system = (user - user_before) * 1000 / requests, (system - system_before) * 1000 / requests
        if used_user + used_system >= 0.005:
            role = "main" if pid == tid else name
            used = f"{used_user + used_system:.3f} ms (user {used_user:.3f}, system {used_system:.3f})"
            print(f"      pid {pid} {role:16s} {used}")


def seed(dsn: str, collection_id: int, count: int, *, prefix: str, spread: int) -> None:
    """Insert documents straight into the table (the API's own path is measured separately)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            """
            INSERT INTO documents_document (collection_id, key, owner, data, version, created_at, updated_at)
            SELECT %s, %s || i, NULL,
                   jsonb_build_object('n', i, 'bucket', i %% 500, 'tag', 't' || (i %% %s), 'title', 'doc ' || i),
                   1, now(), now()
            FROM generate_series(0, %s - 1) AS i
            """,
            [collection_id, prefix, spread, count],
        )
        connection.execute("ANALYZE documents_document")


def user_access_token(base: str) -> str:
    """A fresh user's access token (valid 15 minutes: longer than a run)."""
    with create_client(base.removesuffix("/v1")) as client:
        session = client.auth.sign_up(f"bench-{os.getpid()}@example.com", "a fine long bench passphrase")
    return session.access


def hold_listeners(port: int, token: str, count: int) -> Callable[[int], str]:
    """Open `count` websockets with `token`, each subscribed to the bench collection with a filter no
    document matches, and hold them (draining) in a thread of their own until the process ends.
    Returns a function giving how the server's processes split them."""
    import asyncio

    import websockets

    url = f"ws://127.0.0.1:{port}/v1/realtime?token={token}"
    ready = threading.Event()

    async def hold() -> None:
        sockets = [await websockets.connect(url, ping_interval=None) for _ in range(count)]
        for socket in sockets:
            await socket.send(json.dumps({"op": "subscribe", "id": "s", "collection": "bench", "filter": "n == -1"}))
            answer = json.loads(await socket.recv())
            if answer.get("op") != "subscribed":
                raise SystemExit(f"a listener could not subscribe: {answer}")
        ready.set()
        await asyncio.gather(*(_drain(socket) for socket in sockets))

    threading.Thread(target=asyncio.run, args=(hold(),), daemon=True).start()
    if not ready.wait(60):
        raise SystemExit("the listeners did not subscribe")
    return lambda root: "/".join(map(str, connections_per_process(root, port)))


async def _drain(socket: Any) -> None:
    import websockets

    with contextlib.suppress(websockets.ConnectionClosed):  # the server stopping at the end
        async for _ in socket:
            pass


def latency(url: str, key: str, count: int) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        status, body = request("GET", url, key)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, body
        size = len(body["items"])  # type: ignore[index]
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", choices=["wsgi", "asgi"], default="wsgi")
    parser.add_argument("--workers", type=int, default=2)
    # Threads per server process. Measured with 2, 4 and 8 (and 1, 3): 2 served the most gets at the
    # lowest CPU per request (fewer GIL hand-offs and database backends on 2 cores).
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of the same load before each measured run (not counted)"
    )
    parser.add_argument("--credential", choices=["service-key", "user"], default="service-key")
    parser.add_argument("--big", type=int, default=1_000_000, help="0 skips the indexed-query part")
    parser.add_argument("--calls", default="create,get,list,count", help="which of create, get, list, count to load")
    parser.add_argument(
        "--per-thread", action="store_true", help="also each server thread's CPU per request (loop, REST threads…)"
    )
    parser.add_argument(
        "--listeners",
        type=int,
        default=0,
        help="websockets held open during the runs, each subscribed to the collection written (matching none of its "
        "documents), so the realtime side runs as in use: on the one port (asgi), or (wsgi) on a `baas serve` of its "
        "own beside granian, as a deployment whose proxy sends /v1/realtime elsewhere runs it; its CPU is counted",
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_bench")
    args = parser.parse_args()

    fresh_database(args.database_url)
    data_dir = tempfile.mkdtemp(prefix="baas-bench-")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")},
        "DATABASE_URL": args.database_url,
        "BAAS_DATA_DIR": data_dir,
        "LOG_LEVEL": "WARNING",
    }
    run([BAAS, "migrate", "--noinput"], env)
    key = run([BAAS, "keys", "create", "bench"], env)
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}/v1"
    server = subprocess.Popen(
        [BAAS, "serve", "--interface", args.interface, "--workers", str(args.workers), "--threads", str(args.threads),
         "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    servers, realtime_port = [server], port
    if args.listeners and args.interface == "wsgi":
        realtime_port = port + 1
        servers.append(
            subprocess.Popen(
                [BAAS, "serve", "--port", str(realtime_port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        for health in {f"http://127.0.0.1:{p}/v1/health" for p in (port, realtime_port)}:
            wait_healthy(health)
        bench_collection = {"name": "bench", "rules": {"read": "true"}, "indexes": [{"fields": ["bucket"]}]}
        if args.credential == "user":
            bench_collection["rules"] = {"read": "true", "create": "auth != null"}
        # Setting up goes through the Python SDK; the timed calls below are wrk's (and raw GETs).
        admin = create_client(base.removesuffix("/v1"), service_key=key)
        admin.request("POST", "/v1/db/collections", json_body=bench_collection)
        admin.request("POST", "/v1/db/collections", json_body={"name": "big", "rules": {"read": "true"}})
        with psycopg.connect(args.database_url) as connection:
            ids = dict(connection.execute("SELECT name, id FROM documents_collection").fetchall())
        seed(args.database_url, ids["bench"], 10_000, prefix="d", spread=500)

        credential = key if args.credential == "service-key" else user_access_token(base)
        wrk_env = {**os.environ, "BAAS_KEY": credential, "BAAS_PATH": "/v1/db/bench", "BAAS_COUNT": "10000"}
        if args.listeners:
            token = credential if args.credential == "user" else user_access_token(base)
            listening = hold_listeners(realtime_port, token, args.listeners)
            split = listening(servers[-1].pid)
            print(f"listeners: {args.listeners} subscribed; connections per process {split} (setup's included)")
        print(f"server: baas serve --interface {args.interface}, {args.workers} worker processes x {args.threads} "
              f"threads; load: wrk 2 threads, 16 connections, {args.seconds} s each; PostgreSQL 15; "
              f"credential: {args.credential}")  # fmt: skip
        calls = {
            "create": ("create", "create.lua"),
            "get": ("get by id", "get.lua"),
            "list": ("filtered list (20 rows)", "query.lua"),
            "count": ("filtered count (20 rows)", "count.lua"),
        }
        for label, script in (calls[name] for name in args.calls.split(",")):
            if args.warmup:  # a fresh server's first requests (connections, caches) are not what is measured
                wrk(script, f"http://127.0.0.1:{port}", wrk_env, args.warmup)
            split: list[int] = []
            sampler = threading.Timer(args.seconds / 2, partial(sample_split, split, server.pid, port))
            sampler.start()
            tree = [pid for each in servers for pid in process_tree(each.pid)]
            threads_before = thread_cpu_seconds(tree) if args.per_thread else {}
            server_before, database_before = cpu_of([each.pid for each in servers], args.database_url)
            result = wrk(script, f"http://127.0.0.1:{port}", wrk_env, args.seconds)
            server_after, database_after = cpu_of([each.pid for each in servers], args.database_url)
            threads_after = thread_cpu_seconds(tree) if args.per_thread else {}
            sampler.join()
            rps, p50, p99, errors = result["rps"], result["p50"], result["p99"], result["errors"]
            # CPU per request tells an optimisation apart on a shared box, where req/s is noisy. The
            # database figure counts only backends still connected at the end (granian keeps its own).
            requests = max(1.0, rps * args.seconds)
            server_ms = (server_after - server_before) * 1000 / requests
            database_ms = (database_after - database_before) * 1000 / requests
            print(
                f"  {label:26s} {rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   errors {errors}"
                f"   CPU/request: server {server_ms:.2f} ms, PostgreSQL {database_ms:.2f} ms"
                f"   connections per worker {'/'.join(map(str, split)) or '?'}"
            )
            if args.per_thread:
                print_thread_cpu(threads_before, threads_after, requests)

        if not args.big:
            return
        started = time.perf_counter()
        seed(args.database_url, ids["big"], args.big, prefix="b", spread=max(1, args.big // 20))
        print(f"\n{args.big:,} documents in 'big' (seeded by SQL in {time.perf_counter() - started:.0f} s)")
        tag = urllib.parse.quote('tag == "t777"')
        low = args.big // 2
        span = urllib.parse.quote(f"n >= {low} && n < {low + 20}")
        queries = {
            "equality (20 rows)": f"{base}/db/big?filter={tag}",
            "range (20 rows)": f"{base}/db/big?filter={span}",
        }
        for label, url in queries.items():
            p50, p99, size = latency(url, key, 10)
            print(f"  without index  {label:20s} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  ({size} rows)")
        started = time.perf_counter()
        admin.request(
            "PATCH", "/v1/db/collections/big", json_body={"indexes": [{"fields": ["tag"]}, {"fields": ["n"]}]}
        )
        print(f"  building both indexes (CONCURRENTLY): {time.perf_counter() - started:.1f} s")
        for label, url in queries.items():
            p50, p99, size = latency(url, key, 300)
            print(f"  with index     {label:20s} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  ({size} rows)")
    finally:
        for each in servers:
            each.terminate()
        for each in servers:
            each.wait(timeout=30)


if __name__ == "__main__":
    main()
