"""The per-process realtime runtime: one hub and one tailer, started on first use."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async

from baas import events
from realtime.hub import Hub
from realtime.tailer import Tailer

hub = Hub()
_tailer: Tailer | None = None
_lock = asyncio.Lock()


async def ensure_started() -> Hub:
    """Start the tailer from the newest event, once per process (on the running event loop)."""
    global _tailer
    if _tailer is not None and _tailer.is_alive():
        return hub
    async with _lock:
        if _tailer is None or not _tailer.is_alive():
            start = await database_sync_to_async(events.latest_seq)()
            hub.position = start
            _tailer = Tailer(hub, asyncio.get_running_loop(), start)
            _tailer.start()
    return hub
