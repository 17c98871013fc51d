"""The Python SDK against a real `baas serve` process (SQLite, or PostgreSQL + Redis when the run has them)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.realtime.conftest import Server, prepare, stack_env, start_server

OPEN = {"read": "true", "create": "auth != null", "update": "auth != null", "delete": "auth != null"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for env in stack_env(tmp_path_factory.mktemp("sdkpy")):
        # Short-lived access tokens: the SDK's refresh runs during the module.
        running = start_server(prepare(env), AUTH_ACCESS_TOKEN_SECONDS="30")
        try:
            running.rest("POST", "/v1/db/collections", {"name": "notes", "rules": OPEN})
            running.rest("POST", "/v1/storage/buckets", {"name": "files", "rules": OPEN})
            yield running
        finally:
            running.process.stop()


def email() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


PASSWORD = "a fine long passphrase"


class CuttableProxy:
    """A TCP proxy on its own thread and loop; `cut()` drops every open connection at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            with contextlib.suppress(Exception):
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    def cut(self) -> None:
        def go() -> None:
            for w in list(self.writers):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            self.writers.clear()

        self.loop.call_soon_threadsafe(go)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
