"""One tailer per process: reads the event log in order and hands batches to the hub.

The reading runs in a thread of its own with its own database connection (the ORM and the
services that give each batch's read rules are synchronous) and wakes on PostgreSQL NOTIFY, or on
the in-process signal plus a short poll on SQLite. Batches cross to the event loop through a
queue that one delivery task drains in order, so all fan-out happens on the loop's thread, a
batch at a time, pausing every few hundred subscriptions (`Hub.deliver_paced`) so that the
connections' writers get going before the whole burst is fanned out. At most `max_pending`
batches wait for delivery: a loop that falls behind stops the reader instead of growing a backlog
in memory.
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

# Subscriptions looked at between two pauses of a fan-out; a pause lets every woken writer send.
PAUSE_EVERY = 128
# Events read at most per round trip.
READ_LIMIT = 500
# Reads follow each other at least this far apart (seconds). Under a stream of writes every commit
# wakes the tailer, and each read is a query, the batch's rules and a hand-over to the loop; spaced
# reads take what committed meanwhile together (docs/serving.md, "REST while realtime is in use").
# An event after a quiet spell is read at once.
READ_INTERVAL = 0.002


class Tailer(threading.Thread):
    def __init__(self, hub: Hub, loop: asyncio.AbstractEventLoop, start_after: int, *, max_pending: int = 4) -> None:
        """Create on the event loop's thread: it starts the delivery task there."""
        super().__init__(name="baas-realtime-tailer", daemon=True)
        self.hub = hub
        self.loop = loop
        self.position = start_after
        self._last_read = 0.0
        # Read rules kept between batches, by topic (only those `topics.keeps_rules` allows): a
        # collection's read was one query of every batch, a third of the tailer's work under a
        # stream of creates. Dropped when the log announces the collection changed.
        self._kept_rules: dict[str, Any] = {}
        self._stopping = threading.Event()
        self._room = threading.Semaphore(max_pending)
        self._pending: asyncio.Queue[tuple[list[Any], dict[str, Any], int]] = asyncio.Queue()
        self._delivery = loop.create_task(self._deliver_forever())

    def stop(self) -> None:
        self._stopping.set()
        self.loop.call_soon_threadsafe(self._delivery.cancel)

    def run(self) -> None:
        waiter: events.EventWaiter | None = None
        while not self._stopping.is_set():
            try:
                if waiter is None:
                    waiter = events.EventWaiter()
                self._step(waiter)
            except Exception:
                logger.exception("the realtime tailer failed; retrying")
                self._kept_rules.clear()  # (a batch may have been read and not looked at)
                if waiter is not None:
                    waiter.close()
                    waiter = None
                connection.close()
                time.sleep(1)
        if waiter is not None:
            waiter.close()
        connection.close()

    def _step(self, waiter: events.EventWaiter) -> None:
        # A slot for one more batch; the delivery task gives it back once the batch is fanned out.
        if not self._room.acquire(timeout=1.0):
            return
        try:
            self._pace()
            # The wake-ups received by now announce commits this read will see: one read for all
            # of them, where each used to start a read of its own.
            waiter.drain()
            batch = self._read_batch()
            rules = self._rules_for(batch) if batch else {}
        except BaseException:
            self._room.release()
            raise
        if batch:
            self.position = batch[-1].seq
            self.loop.call_soon_threadsafe(self._pending.put_nowait, (batch, rules, self.position))
        else:
            self._room.release()
        if batch is not None and len(batch) < READ_LIMIT:
            # Caught up as of this read. Whatever commits after it sends a wake-up of its own (a
            # NOTIFY waits in the listening socket until read), so no second read to find nothing.
            waiter.wait(timeout=1.0)

    def _rules_for(self, batch: list[Any]) -> dict[str, Any]:
        """The read rules, as of now, of the batch's topics that someone subscribes to. A rule kept
        from an earlier batch is still the one in force unless this batch announces its change:
        every change of a collection enters the log in its transaction, so its announcement comes
        before any event committed after it (tests/realtime/test_subscriptions.py)."""
        kept = self._kept_rules
        for event in batch:
            changed = topics.redefined_topic(event)
            if changed is not None:
                kept.pop(changed, None)
        wanted = {event.topic for event in batch} & self.hub.topics()
        fresh = topics.rules_for({topic for topic in wanted if topic not in kept})
        for topic, rule in fresh.items():
            if topics.keeps_rules(topic):
                kept[topic] = rule
        return {topic: kept[topic] if topic in kept else fresh[topic] for topic in wanted}

    def _pace(self) -> None:
        wait = self._last_read + READ_INTERVAL - time.monotonic()
        if wait > 0:
            self._stopping.wait(wait)
        self._last_read = time.monotonic()

    def _read_batch(self) -> list[Any] | None:
        """The next events after our position; None when the position had to jump."""
        close_old_connections()
        try:
            return events.read_after(self.position, limit=READ_LIMIT)
        except events.ResyncRequired:
            # Retention overtook this process (it was stalled for days): subscribers will notice
            # the jump in seq; new ones start from now.
            logger.error("the realtime tailer fell behind retention; skipping to the newest event")
            self.position = events.latest_seq()
            self._kept_rules.clear()  # the skipped events may have announced changes
            if self.hub.on_gap is not None:
                self.loop.call_soon_threadsafe(self.hub.on_gap)
            return None

    async def _deliver_forever(self) -> None:
        while True:
            batch, rules, position = await self._pending.get()
            try:
                await self.hub.deliver_paced(batch, rules, PAUSE_EVERY)
                self.hub.position = position
            except Exception:
                logger.exception("realtime fan-out failed for events up to seq %s", position)
            finally:
                self._room.release()
