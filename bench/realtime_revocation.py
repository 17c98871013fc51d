"""Revocation-to-close time of a websocket: how long after a credential is revoked over REST the
client sees its connection closed (`error token_invalid`, close 4001).

    .venv/bin/python bench/realtime_revocation.py [--rounds 40] [--stack postgres|sqlite]

Per round: a fresh session (sign-in) or a fresh service key, a websocket with it subscribed to a
collection, then the revocation (`POST /v1/auth/logout` or `DELETE /v1/admin/keys/{id}`) sent to a
server process. Two times per round, on this process's monotonic clock: from sending the revocation
request, and from its answer (the revocation committed), to the close arriving. Layouts: the socket
on the process that revokes ("one process"), and — PostgreSQL + Redis only — the socket on a second
process ("two processes"). Everything on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import websockets
from baas_client import AsyncClient, create_async_client, create_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BAAS = str(Path(sys.executable).with_name("baas"))

from bench.common import free_port, fresh_database, wait_healthy  # noqa: E402

PASSWORD = "a fine long passphrase"


def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [BAAS, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(f"{base}/v1/health")
    return process, base


async def one_round(kind: str, admin: AsyncClient, listener: str, email: str) -> tuple[float, float]:
    """REST through the Python SDK; the listening socket is a raw websocket, since the SDK would hide
    the close being measured (it reconnects at once)."""
    user: AsyncClient | None = None
    revoke: Callable[[], Awaitable[Any]]
    if kind == "session":
        user = create_async_client(admin.url, auto_refresh=False)
        token = (await user.auth.sign_in(email, PASSWORD)).access
        revoke = user.auth.sign_out  # POST /v1/auth/logout
    else:
        created = await admin.request("POST", "/v1/admin/keys", json_body={"name": uuid.uuid4().hex[:12]})
        token = created["secret"]
        key_id = created["id"]

        def revoke() -> Awaitable[Any]:
            return admin.request("DELETE", f"/v1/admin/keys/{key_id}")

    url = listener.replace("http", "ws", 1) + f"/v1/realtime?token={token}"
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"op": "subscribe", "id": "s", "collection": "chat"}))
        assert json.loads(await socket.recv())["op"] == "subscribed"
        closed = asyncio.get_running_loop().create_future()

        async def watch() -> None:
            try:
                while True:
                    await socket.recv()
            except websockets.ConnectionClosed:
                closed.set_result((time.monotonic(), socket.close_code))

        watcher = asyncio.ensure_future(watch())
        sent = time.monotonic()
        await revoke()
        answered = time.monotonic()
        at, code = await asyncio.wait_for(closed, 10)
        await watcher
        assert code == 4001, code
    if user is not None:
        await user.aclose()
    return at - sent, at - answered


async def measure(rounds: int, revoker: str, listener: str, key: str) -> dict[str, list[float]]:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    async with create_async_client(revoker) as first:
        await first.auth.sign_up(email, PASSWORD)
    from_request: list[float] = []
    from_answer: list[float] = []
    async with create_async_client(revoker, service_key=key) as admin:
        for index in range(rounds):
            kind = "session" if index % 2 == 0 else "key"
            request_time, answer_time = await one_round(kind, admin, listener, email)
            from_request.append(request_time)
            from_answer.append(answer_time)
            await asyncio.sleep(0.05)
    return {"request": from_request, "answer": from_answer}


def summary(values: list[float]) -> str:
    ms = sorted(value * 1000 for value in values)
    return f"p50 {statistics.median(ms):6.1f} ms   max {ms[-1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--stack", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/baas_realtime_revocation")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")},
        "BAAS_DATA_DIR": tempfile.mkdtemp(prefix="baas-bench-revocation-"),
        "LOG_LEVEL": "WARNING",
        "AUTH_RATE_TOKEN_IP": "100000/h",
        "AUTH_RATE_TOKEN_ACCOUNT": "100000/h",
        "AUTH_RATE_SIGNUP_IP": "1000/h",
        "DJANGO_SETTINGS_MODULE": "baas.settings",
        "PYTHONPATH": str(ROOT),
    }
    if args.stack == "postgres":
        fresh_database(args.database_url)
        env.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, CHANNEL_PREFIX=f"b{uuid.uuid4().hex[:6]}")
    subprocess.run([BAAS, "migrate", "--noinput"], env=env, check=True, capture_output=True)
    key = subprocess.run([BAAS, "keys", "create", "bench"], env=env, check=True, capture_output=True, text=True)
    key_secret = key.stdout.strip()
    processes = [start(env)]
    if args.stack == "postgres":
        processes.append(start(env))
    try:
        first = processes[0][1]
        with create_client(first, service_key=key_secret) as admin:
            admin.request("POST", "/v1/db/collections", json_body={"name": "chat", "rules": {"read": "true"}})
        layouts = [("one process", first, first)]
        if len(processes) == 2:
            layouts.append(("two processes", first, processes[1][1]))
        print(f"stack: {args.stack}; {args.rounds} rounds each, alternating logout and key revocation")
        for name, revoker, listener in layouts:
            times = asyncio.run(measure(args.rounds, revoker, listener, key_secret))
            print(f"{name:14}  from the request: {summary(times['request'])}")
            print(f"{'':14}  from its answer:  {summary(times['answer'])}")
    finally:
        for process, _ in processes:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
