"""The dispatch tailer: a thread in each worker's main process that turns new events into
invocations as soon as they commit.

The kernel appends events with plain SQL and never calls functions (STYLE.md, "Boundaries"), so
nothing is sent to the queue per write. Instead every worker process watches the log the way the
realtime tailers do: on PostgreSQL it sleeps on `LISTEN` (`baas.events.EventWaiter`: every append
sends a transactional NOTIFY, heard at commit); on SQLite it looks every FUNCTIONS_DISPATCH_POLL_MS
(5 ms) whether another connection committed (`PRAGMA data_version`, ~10 µs) and only then whether an
event lies past the cursor (one indexed look in autocommit). When there is something, it runs
`dispatcher.dispatch()` right here — the cursor lock makes several workers take turns — and the
invocations it creates are sent to the queue (the embedded queue wakes this process's consumer at
once: baas/queue.py). Every FUNCTIONS_TICK_SECONDS it also runs the sweep (functions/delivery.py),
so recovery from a lost message, a dead worker or a broker outage does not hang on beat alone. The
beat tick (`functions.tick`, every second) dispatches and sweeps too, so events are never stranded
if no worker tails (FUNCTIONS_DISPATCH_IN_WORKER=false) or a tailer is restarting.

Under a stream of events the tailer dispatches at most once per FUNCTIONS_DISPATCH_COALESCE_MS
(20 ms): a wake-up that comes sooner after the last dispatch waits out the rest of that interval,
forgets the wake-ups heard meanwhile (their events are all committed, so the coming read sees
them) and dispatches them together. Dispatching each event alone cost a dispatch transaction, a
message, a claim and a finish per event — at 200 events/s that, not the functions, saturated two
cores and the backlog grew without bound — while a batch of them shares all four (the messages
are split over this worker's processes only: `sending.chunks`). The first event after a quiet
spell is dispatched at once, so a lone write waits for nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from baas.events import EventWaiter
from functions import delivery, dispatcher

logger = logging.getLogger("baas.functions")

_started: threading.Thread | None = None
_stop = threading.Event()
_lock = threading.Lock()


def start(*, spread: int | None = None) -> None:
    """Start this process's tailer once (from the worker's `worker_ready` signal). `spread`: over
    how many messages at least a dispatch's invocations are split (this worker's pool size; None:
    FUNCTIONS_RUN_SPREAD)."""
    global _started
    with _lock:
        if _started is not None and _started.is_alive():
            return
        _stop.clear()
        _started = threading.Thread(
            target=_run_forever, kwargs={"spread": spread}, name="functions-dispatch", daemon=True
        )
        _started.start()
    logger.info("trigger dispatch tailer started (%s)", connection.vendor)


def stop(timeout: float = 5.0) -> None:
    """Stop the tailer (tests; a worker simply exits)."""
    global _started
    with _lock:
        thread, _started = _started, None
    if thread is not None:
        _stop.set()
        thread.join(timeout)


def _run_forever(spread: int | None = None) -> None:
    waiter: EventWaiter | None = None
    poll = settings.FUNCTIONS_DISPATCH_POLL_MS / 1000
    interval = settings.FUNCTIONS_DISPATCH_COALESCE_MS / 1000
    swept = 0.0
    dispatched = 0.0  # when the last dispatch started (monotonic)
    seen_version: int | None = None
    try:
        while not _stop.is_set():
            try:
                if waiter is None and connection.vendor == "postgresql":
                    waiter = EventWaiter()  # LISTEN first, then dispatch: no commit falls in between
                    dispatched = 0.0
                pause = dispatched + interval - time.monotonic()
                if pause > 0:
                    # A stream: let its next events commit, and take them all in the coming read.
                    _stop.wait(pause)
                    if waiter is not None:
                        waiter.drain()
                started = time.monotonic()
                passed: int | None
                if waiter is not None:
                    passed = dispatcher.dispatch_counted(spread=spread)[0]
                else:
                    seen_version, passed = _dispatch_if_changed(seen_version, spread)
                if passed is not None:
                    # A look that found nothing: the next event is the first of a stream, and goes at once.
                    dispatched = started if passed else 0.0
                if time.monotonic() - swept >= settings.FUNCTIONS_TICK_SECONDS:
                    swept = time.monotonic()
                    delivery.sweep()
                if waiter is not None:
                    waiter.wait(timeout=0.5)
                else:
                    _stop.wait(poll)
            except Exception:
                logger.warning("the trigger dispatch tailer failed; retrying in a second", exc_info=True)
                try:
                    if waiter is not None:
                        waiter.close()
                    close_old_connections()
                    connection.close()
                except Exception:
                    logger.debug("could not reset the tailer's connections", exc_info=True)
                waiter, seen_version = None, None
                _stop.wait(1.0)
    finally:
        with contextlib.suppress(Exception):
            if waiter is not None:
                waiter.close()
            connection.close()


def _dispatch_if_changed(seen_version: int | None, spread: int | None) -> tuple[int, int | None]:
    """SQLite: dispatch only when another connection committed since the last look. `PRAGMA
    data_version` tells that without reading a table (~10 µs, so the poll can be short); it is
    read before dispatching, so a commit during the dispatch is seen by the next look. Returns the
    version seen and how many events were dispatched (None: nothing committed, no look)."""
    connection.ensure_connection()
    version = connection.connection.execute("PRAGMA data_version").fetchone()[0]
    passed = dispatcher.dispatch_counted(spread=spread)[0] if version != seen_version else None
    return version, passed
