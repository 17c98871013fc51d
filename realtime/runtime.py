"""The per-process realtime runtime: one hub, one tailer and one sweeper, started on first use."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from channels.db import database_sync_to_async

from baas import events
from realtime.hub import Hub
from realtime.tailer import Tailer

logger = logging.getLogger("baas.realtime")

hub = Hub()
_tailer: Tailer | None = None
_lock = asyncio.Lock()
_connections: set[Any] = set()
_sweeper: asyncio.Task[None] | None = None


async def ensure_started() -> Hub:
    """Start the tailer from the newest event, once per process (on the running event loop)."""
    global _tailer
    if _tailer is not None and _tailer.is_alive():
        return hub
    async with _lock:
        if _tailer is None or not _tailer.is_alive():
            # The tailer thread needs the GIL briefly many times per batch; with the default 5 ms
            # switch interval a busy event loop made each hand-over cost up to 5 ms.
            sys.setswitchinterval(0.0005)
            start = await database_sync_to_async(events.latest_seq)()
            hub.position = start
            _tailer = Tailer(hub, asyncio.get_running_loop(), start)
            _tailer.start()
    return hub


def watch(connection: Any) -> None:
    """Have the sweeper look after a connection (idle timeout, token expiry, presence refresh)."""
    global _sweeper
    _connections.add(connection)
    if _sweeper is None or _sweeper.done():
        _sweeper = asyncio.get_running_loop().create_task(_sweep())


def unwatch(connection: Any) -> None:
    _connections.discard(connection)


async def _sweep() -> None:
    background: set[asyncio.Task[Any]] = set()
    while _connections:
        await asyncio.sleep(1)
        now = time.monotonic()
        for connection in list(_connections):
            try:
                work = connection.housekeeping(now)
            except Exception:
                logger.exception("realtime housekeeping failed")
                continue
            if work is not None:
                task = asyncio.ensure_future(work)
                background.add(task)
                task.add_done_callback(background.discard)
