"""One tailer per process: reads the event log in order and hands batches to the hub.

It runs in a thread of its own with its own database connection (the ORM is synchronous) and
wakes on PostgreSQL NOTIFY, or on the in-process signal plus a short poll on SQLite. Batches are
passed to the event loop with `call_soon_threadsafe`, so all fan-out happens on the loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from django.db import close_old_connections, connection

from baas import events
from realtime import topics
from realtime.hub import Hub

logger = logging.getLogger("baas.realtime")


class Tailer(threading.Thread):
    def __init__(self, hub: Hub, loop: asyncio.AbstractEventLoop, start_after: int) -> None:
        super().__init__(name="baas-realtime-tailer", daemon=True)
        self.hub = hub
        self.loop = loop
        self.position = start_after
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        waiter: events.EventWaiter | None = None
        while not self._stopping.is_set():
            try:
                if waiter is None:
                    waiter = events.EventWaiter()
                self._step(waiter)
            except Exception:
                logger.exception("the realtime tailer failed; retrying")
                if waiter is not None:
                    waiter.close()
                    waiter = None
                connection.close()
                time.sleep(1)
        if waiter is not None:
            waiter.close()
        connection.close()

    def _step(self, waiter: events.EventWaiter) -> None:
        close_old_connections()
        try:
            batch = events.read_after(self.position, limit=500)
        except events.ResyncRequired:
            # Retention overtook this process (it was stalled for days): subscribers will notice
            # the jump in seq; new ones start from now.
            logger.error("the realtime tailer fell behind retention; skipping to the newest event")
            self.position = events.latest_seq()
            return
        if not batch:
            waiter.wait(timeout=1.0)
            return
        wanted = self.hub.topics()
        rules = topics.rules_for({event.topic for event in batch} & wanted)
        self.position = batch[-1].seq
        self.loop.call_soon_threadsafe(self._deliver, batch, rules, self.position)

    def _deliver(self, batch: list[Any], rules: dict[str, Any], position: int) -> None:
        self.hub.deliver(batch, rules)
        self.hub.position = position
