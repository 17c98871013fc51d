"""Realtime tests run a real `baas serve` process (uvicorn) and talk to it with real websocket
clients, on the same stack as the rest of the run: SQLite, or PostgreSQL + Redis when the suite
runs on the production stack (DATABASE_URL / REDIS_URL set)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import RunningProcess, http, platform_env, wait_until


@dataclass
class Server:
    base: str
    key: str
    env: dict[str, str]
    process: RunningProcess

    @property
    def ws(self) -> str:
        return self.base.replace("http", "ws", 1) + "/v1/realtime"

    def rest(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, answer = http(method, f"{self.base}{path}", token=token or self.key, body=body)
        assert status < 300, (status, answer)
        return answer

    def user(self, email: str) -> dict[str, Any]:
        status, answer = http(
            "POST", f"{self.base}/v1/auth/signup", body={"email": email, "password": "a fine long passphrase"}
        )
        assert status == 201, answer
        return answer

    def manage(self, *args: str) -> str:
        result = subprocess.run([BAAS_BIN, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout


def scratch_database_name() -> str:
    """A fresh database name derived from the run's own database (baas_h_rt → baas_h_rt_…), so
    parallel runs on one PostgreSQL never collide and their leftovers say whose they are."""
    database_url = os.environ.get("DATABASE_URL", "")
    base = database_url.rsplit("/", 1)[1] if database_url.startswith("postgres") else "baas_rt"
    return f"{base}_{uuid.uuid4().hex[:10]}"


def scratch_redis_url(default: str) -> str:
    """The run's own Redis database when it has one (REDIS_URL), else the tests' default."""
    return os.environ.get("REDIS_URL") or default


def stack_env(data_dir: Path) -> Iterator[dict[str, str]]:
    """Environment for a fresh platform on this run's stack; drops the database afterwards."""
    env = platform_env(
        uuid.uuid4().hex,
        BAAS_DATA_DIR=str(data_dir),
        AUTH_RATE_SIGNUP_IP="1000/h",
        AUTH_RATE_TOKEN_IP="1000/m",
        LOG_LEVEL="WARNING",
    )
    database_url = os.environ.get("DATABASE_URL", "")
    name = None
    if database_url.startswith("postgres"):
        name = scratch_database_name()
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = database_url.rsplit("/", 1)[0] + f"/{name}"
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
        env["CHANNEL_PREFIX"] = f"rt{uuid.uuid4().hex[:8]}"
    try:
        yield env
    finally:
        if name:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server(env: dict[str, str], **extra_env: str) -> Server:
    port = free_port()
    process = RunningProcess([BAAS_BIN, "serve", "--port", str(port)], env={**env, **extra_env})
    base = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=30):
        process.kill()
        pytest.fail(f"the server did not start:\n{process.text}")
    return Server(base=base, key=env["BAAS_TEST_KEY"], env=env, process=process)


def prepare(env: dict[str, str]) -> dict[str, str]:
    subprocess.run([BAAS_BIN, "migrate", "--noinput"], env=env, check=True, capture_output=True, timeout=120)
    key = subprocess.run([BAAS_BIN, "keys", "create", "tests"], env=env, check=True, capture_output=True, text=True)
    return {**env, "BAAS_TEST_KEY": key.stdout.strip()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for env in stack_env(tmp_path_factory.mktemp("rt")):
        running = start_server(prepare(env))
        try:
            yield running
        finally:
            running.process.stop()


class Client:
    """A websocket client that keeps every message it receives, for assertions."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def expect(self, op: str, timeout: float = 5, **fields: Any) -> dict[str, Any]:
        """The next message, which must have this op (and these field values)."""
        message = await self.recv(timeout)
        assert message.get("op") == op, message
        for key, value in fields.items():
            assert message.get(key) == value, message
        return message

    async def silent(self, seconds: float = 0.5) -> None:
        try:
            message = await asyncio.wait_for(self.socket.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {message}")


def connect(server: Server, token: str | None = None) -> Any:
    url = server.ws + (f"?token={token}" if token else "")
    return websockets.connect(url, max_size=None)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def signup_token(server: Server, email: str) -> tuple[str, str]:
    answer = server.user(email)
    return answer["user"]["id"], answer["access"]
