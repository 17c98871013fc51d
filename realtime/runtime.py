"""The per-process realtime runtime: one hub, one tailer and one sweeper, started on first use."""

from __future__ import annotations

import asyncio
import gc
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


# Connections the sweeper looks after between two pauses for the event loop.
SWEEP_PAUSE_EVERY = 256

# Allocations (net) between two young-generation collections; Python's default is 700.
YOUNG_GC_THRESHOLD = 10_000


def _tune_garbage_collection() -> None:
    """Make full garbage collections rare in a process that holds many websocket connections.

    Thousands of connections are millions of long-lived objects, and a full collection visits them
    all while the event loop waits: 0.3 to 1 s pauses were measured with 5,000 subscribers. With the
    default young threshold (700) the in-flight objects of each delivery (futures, frames, events)
    were often still alive at a collection and got promoted, which triggered a full collection
    every few seconds under load. With a larger young generation they die young instead. Not too
    large, though: on a slower machine (session 3, bench/realtime.py, 5,000 subscribers at 200
    writes/s) p99 was 227-300 ms at 50,000, 69-76 ms at 10,000, 119 ms at 5,000, 152 ms at 2,000
    and 211 ms at 200,000; with collection off altogether, 72 ms. Process-wide, so also for REST
    threads.
    """
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_GC_THRESHOLD, young), middle, old)


def watch(connection: Any) -> None:
    """Have the sweeper look after a connection (idle timeout, token expiry, presence refresh)."""
    global _sweeper
    _connections.add(connection)
    if _sweeper is None or _sweeper.done():
        _tune_garbage_collection()
        _sweeper = asyncio.get_running_loop().create_task(_sweep())


def unwatch(connection: Any) -> None:
    _connections.discard(connection)


async def _sweep() -> None:
    background: set[asyncio.Task[Any]] = set()
    while _connections:
        await asyncio.sleep(1)
        now = time.monotonic()
        for index, connection in enumerate(list(_connections)):
            if index and index % SWEEP_PAUSE_EVERY == 0:
                # Thousands of connections take milliseconds: let deliveries through meanwhile.
                await asyncio.sleep(0)
            if connection not in _connections:
                continue  # gone during the pause
            try:
                work = connection.housekeeping(now)
            except Exception:
                logger.exception("realtime housekeeping failed")
                continue
            if work is not None:
                task = asyncio.ensure_future(work)
                background.add(task)
                task.add_done_callback(background.discard)
