"""The Python SDK's realtime resume under forced disconnects: with writes flowing, N disconnects of
a subscriber's websocket — the server process killed (SIGKILL; new connections go to a standby
server on the same database, as behind a load balancer) and a proxy dropping every connection,
alternately — must deliver every change exactly once and in order, for a collection and a bucket.

    .venv/bin/python bench/sdk_reconnect.py [--disconnects 20]

Embedded stack by default (SQLite, one data folder shared by the processes); with DATABASE_URL
(and REDIS_URL) in the environment, on those (the database named there is dropped and created).
Prints reconnect-to-resumed times (the SDK's `resumed` event: from the connection's loss to every
subscription re-acknowledged), p50 and max per kind of fault, fault-to-resumed times, and events
delivered/expected. Exits non-zero if any change was lost, repeated or reordered.
`tests/sdk_python/test_reconnect.py` runs `measure`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BAAS = str(Path(sys.executable).with_name("baas"))

from baas_client import create_async_client  # noqa: E402

from bench.common import free_port, fresh_database, wait_healthy  # noqa: E402

PASSWORD = "a fine long passphrase"
KINDS = ("server-kill", "proxy-cut")


@dataclass
class ServerProcess:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [BAAS, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(f"{self.url}/v1/health", timeout=90)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class Proxy:
    """A TCP proxy on this event loop: `upstream` picks where new connections go; `cut()` drops all."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> Proxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self.writers |= pair

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            for each in pair:  # one side gone: drop the other too
                each.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= pair

    def cut(self) -> None:
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _spread(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": round(_pct(values, 50)), "max": round(max(values))} if values else {"n": 0}


async def measure(env: dict[str, str], key: str, write_url: str, disconnects: int = 20) -> dict[str, Any]:
    """Run the faults; raise AssertionError on a lost, repeated or reordered change; return the figures.

    `env`: a migrated platform (its data folder / database) that two more servers are started on;
    `write_url`: a server on the same platform that the writes go through."""
    servers = [ServerProcess(env).start(), ServerProcess(env).start()]
    live = 0
    proxy = await Proxy(servers[live].port).start()
    collection, bucket = f"feed_{uuid.uuid4().hex[:8]}", f"files-{uuid.uuid4().hex[:8]}"
    rules = {"read": "auth != null"}
    restarting: asyncio.Task[Any] | None = None
    try:
        async with (
            create_async_client(write_url, service_key=key) as writer,
            create_async_client(
                f"http://127.0.0.1:{proxy.port}",
                reconnect_delay=0.1,
                max_reconnect_delay=1.0,
                ping_interval=1.0,
                ping_timeout=2.5,
            ) as app,
        ):
            await writer.request("POST", "/v1/db/collections", json_body={"name": collection, "rules": rules})
            await writer.request("POST", "/v1/storage/buckets", json_body={"name": bucket, "rules": rules})
            await app.auth.sign_up(f"u{uuid.uuid4().hex[:12]}@example.com", PASSWORD)
            docs: list[str] = []
            objects: list[str] = []
            seqs: dict[str, list[int]] = {"docs": [], "objects": []}
            resumes: list[float] = []
            lost_at: list[float] = []

            def on_doc(c: dict[str, Any]) -> None:
                docs.append(c["doc"]["id"])
                seqs["docs"].append(c["seq"])

            def on_object(c: dict[str, Any]) -> None:
                objects.append(c["doc"]["path"])
                seqs["objects"].append(c["seq"])

            app.realtime.on("disconnected", lambda _e: lost_at.append(time.monotonic()))
            app.realtime.on("resumed", lambda e: resumes.append(e["ms"]))
            subs = [
                await app.db.collection(collection).subscribe(on_doc),
                await app.storage.bucket(bucket).subscribe(on_object),
            ]
            for sub in subs:
                await sub.wait_ready(30)

            written: dict[str, list[str]] = {"docs": [], "objects": []}
            writing = True

            async def write() -> None:
                n = 0
                while writing:
                    written["docs"].append((await writer.db.collection(collection).create({"n": n}))["id"])
                    path = f"o/{n:06d}"
                    await writer.storage.bucket(bucket).upload(path, f"object {n}", content_type="text/plain")
                    written["objects"].append(path)
                    n += 1

            writes = asyncio.create_task(write())
            by_kind: dict[str, list[float]] = {k: [] for k in KINDS}
            fault_to_resumed: dict[str, list[float]] = {k: [] for k in KINDS}
            for i in range(disconnects):
                await asyncio.sleep(0.5 + random.random() * 0.5)  # changes flow on a healthy connection
                kind = KINDS[i % len(KINDS)]
                before = len(resumes)
                if kind == "server-kill":
                    if restarting:
                        await restarting  # the standby must be up before the live one dies
                    dying = servers[live]
                    live = 1 - live
                    proxy.upstream = servers[live].port
                    fault_at = time.monotonic()
                    dying.kill()
                    restarting = asyncio.create_task(asyncio.to_thread(dying.start))
                else:
                    fault_at = time.monotonic()
                    proxy.cut()
                deadline = time.monotonic() + 60
                while len(resumes) == before:
                    assert time.monotonic() < deadline, f"no resume after {kind} #{i + 1}"
                    await asyncio.sleep(0.01)
                by_kind[kind].append(resumes[-1])
                fault_to_resumed[kind].append((time.monotonic() - fault_at) * 1000)
            await asyncio.sleep(1)
            writing = False
            await writes
            deadline = time.monotonic() + 60
            while len(docs) < len(written["docs"]) or len(objects) < len(written["objects"]):
                assert time.monotonic() < deadline, "not every written change arrived"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # anything extra (a duplicate) would arrive now

            assert docs == written["docs"], "documents: each exactly once, in write order"
            assert objects == written["objects"], "objects: each exactly once, in write order"
            for each in seqs.values():
                assert each == sorted(set(each)), "seq grows strictly"
            assert len(resumes) == disconnects, (len(resumes), disconnects)
            for sub in subs:
                sub.unsubscribe()
            return {
                "disconnects": disconnects,
                "delivered": len(docs) + len(objects),
                "expected": len(written["docs"]) + len(written["objects"]),
                "reconnect_to_resumed_ms": {**{k: _spread(v) for k, v in by_kind.items()}, "all": _spread(resumes)},
                "fault_to_resumed_ms": {k: _spread(v) for k, v in fault_to_resumed.items()},
            }
    finally:
        if restarting:
            with contextlib.suppress(Exception):
                await restarting
        await proxy.close()
        for s in servers:
            s.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--disconnects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="baas-bench-reconnect-") as data:
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "BAAS_DATA_DIR": data,
            "LOG_LEVEL": "ERROR",
            "AUTH_RATE_SIGNUP_IP": "1000/h",
        }
        if env.get("DATABASE_URL", "").startswith("postgres"):
            fresh_database(env["DATABASE_URL"])  # the bench's own database: dropped and created
            env["CHANNEL_PREFIX"] = f"rc{uuid.uuid4().hex[:6]}"
        subprocess.run([BAAS, "migrate", "--noinput"], env=env, check=True, capture_output=True)
        key = subprocess.run(
            [BAAS, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        stack = "PostgreSQL + Redis" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
        writes = ServerProcess(env).start()
        try:
            for run in range(args.runs):
                figures = asyncio.run(measure(env, key, writes.url, args.disconnects))
                print(f"run {run + 1} ({stack}): {json.dumps(figures)}")
                every = figures["reconnect_to_resumed_ms"]["all"]
                print(
                    f"  reconnect→resumed over {figures['disconnects']} disconnects: p50 {every['p50']} ms, "
                    f"max {every['max']} ms; events delivered/expected {figures['delivered']}/{figures['expected']}"
                )
        finally:
            writes.stop()


if __name__ == "__main__":
    main()
