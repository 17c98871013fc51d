"""How many slow-body clients does a default `baas serve` survive?

For each N, N connections each send a request head with `Content-Length: 1000` and then trickle
the body one byte a second (reconnecting whenever the server cuts them off, as an attacker
would), while a normal client calls GET /v1/health and GET on a document one after the other.
Prints, per N, the normal client's p50/p99/max latency, its failures, and whether p99 < 100 ms.

    .venv/bin/python bench/slow_clients.py                     # this tree's server
    .venv/bin/python bench/slow_clients.py --baas /work/main/.venv/bin/baas --counts 17
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import raise_file_limit, running_server

HEAD = (
    b"POST /v1/auth/anonymous HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
)


async def slow_client(port: int, stop: asyncio.Event, stats: dict[str, int]) -> None:
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_failures"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["connections"] += 1
        try:
            writer.write(HEAD)
            while not stop.is_set():
                writer.write(b" ")
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(100), 1.0)
                    if answer.startswith(b"HTTP/1.1 408") or not answer:
                        stats["cut_off"] += 1
                    break
                except TimeoutError:
                    continue
        except OSError:
            stats["cut_off"] += 1
        finally:
            writer.close()


def probe(port: int, key: str, seconds: float) -> tuple[list[float], int]:
    timings, failures = [], 0
    end = time.monotonic() + seconds
    paths = ["/v1/health", "/v1/db/notes/n1"]
    index = 0
    while time.monotonic() < end:
        path = paths[index % 2]
        index += 1
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                failures += 1
        except OSError:
            failures += 1
        timings.append(time.monotonic() - started)
        time.sleep(0.02)
    return timings, failures


def run(port: int, key: str, count: int, seconds: float) -> dict[str, object]:
    stats = {"connections": 0, "cut_off": 0, "connect_failures": 0}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def attack() -> None:
        tasks = [asyncio.create_task(slow_client(port, stop, stats)) for _ in range(count)]
        await stop.wait()
        await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(attack(),), daemon=True)
    thread.start()
    time.sleep(2)  # let the slow clients settle in
    timings, failures = probe(port, key, seconds)
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "slow_clients": count,
        "requests": len(timings),
        "failures": failures,
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "survived": failures == 0 and p99 < 0.1,
        **stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baas", default=str(Path(sys.executable).with_name("baas")))
    parser.add_argument("--counts", default="17,100,500,1000")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    raise_file_limit()
    with running_server(args.baas) as (port, key, _pid):
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        for path, body in (("/v1/db/collections", {"name": "notes"}), ("/v1/db/notes", {"id": "n1", "data": {}})):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", path, json.dumps(body), headers)
            conn.getresponse().read()
        survived = 0
        for count in [int(part) for part in args.counts.split(",")]:
            result = run(port, key, count, args.seconds)
            print(json.dumps(result), flush=True)
            if result["survived"]:
                survived = count
        print(f"survives {survived} concurrent slow-body clients with the normal client's p99 < 100 ms")


if __name__ == "__main__":
    main()
