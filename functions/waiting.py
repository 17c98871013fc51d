"""Waiting for an invocation to finish (a synchronous HTTP invoke), and waking those who wait.

There is one wait loop, `wait_finished()`: check the row, and until it is finished or the time is
up, sleep until a wake-up or for at most a second, then check again; an invocation still `queued`
after a second has its message sent again (a lost message must not become a lost invocation, and
a duplicate is harmless: only one run can claim the row). It returns the row as it is at the end.

- Under `baas serve` (ASGI) `functions/api/awaiting.py` awaits it on the server's event loop, its
  database work on a few threads of its own (they never queue behind the REST requests), so the
  wait holds no REST thread.
- A WSGI thread (`baas serve --interface wsgi`) and other plain callers use `wait_for()`, which
  runs the same loop on a private event loop in the calling thread, its database work on one
  thread of its own whose connection is closed at the end.

Wake-ups. On PostgreSQL the worker that finishes an HTTP invocation sends `pg_notify` on
`baas_invocation_done` (`announce_finished()`, called by functions/runner.py), and one `LISTEN`
connection per server event loop wakes the waits it hears of. Elsewhere (SQLite), and for
`wait_for()`, one query for all of a loop's waiting invocations every 5 ms wakes them. Either way
each row is also checked every second, so a missed wake-up costs at most that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connection, transaction

from functions import sending
from functions.models import Invocation

logger = logging.getLogger("baas.functions")

NOTIFY_CHANNEL = "baas_invocation_done"
POLL_INTERVAL = 0.005
CHECK_EVERY = 1.0
RESEND_AFTER = 1.0

# How a wait runs its database work: `await run(function, *args)`, off the event loop's thread
# (Django refuses database calls in a thread that runs an event loop).
DatabaseRunner = Callable[..., Awaitable[Any]]


# --- the one wait loop ----------------------------------------------------------------------------
async def wait_finished(
    invocation_id: Any, timeout: float, *, run: DatabaseRunner | None = None, waker: _Waiters | None = None
) -> Invocation:
    """Return the invocation (with its function and version) once it is finished, or as it is
    after `timeout` seconds. `run` and `waker` default to this event loop's shared ones (the ASGI
    server's); `wait_for()` passes its own."""
    invocation_id = str(invocation_id)
    run = run or _in_shared_threads
    waker = waker or await _listener() or _poller()
    woken = waker.register(invocation_id)
    started = time.monotonic()
    deadline = started + timeout
    next_resend = started + RESEND_AFTER
    try:
        while True:
            # A check of the row first (it may have finished before we listened) and every second
            # (a missed wake-up costs at most that; a message still queued is sent again).
            status = await run(_status, invocation_id)
            if status is None or status in Invocation.FINAL:
                break
            now = time.monotonic()
            if status == Invocation.QUEUED and now >= next_resend:
                await run(_resend, invocation_id)
                next_resend = now + 2 * RESEND_AFTER
            if now >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(woken), min(CHECK_EVERY, deadline - now))
            if woken.done():
                break
    finally:
        waker.unregister(invocation_id, woken)
    return await run(_final_row, invocation_id)


def wait_for(invocation_id: Any, timeout: float) -> Invocation:
    """`wait_finished()` for a thread that may block (a WSGI request, the CLI, tests). Must not be
    called inside a transaction: each check must see the latest commit."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("wait_for() must not run inside a transaction")
    with _OwnThread() as own:
        return asyncio.run(wait_finished(invocation_id, timeout, run=own.run, waker=_Poller(own.run)))


def _status(invocation_id: str) -> str | None:
    return Invocation.objects.filter(pk=invocation_id).values_list("status", flat=True).first()


def _resend(invocation_id: str) -> None:
    logger.warning("invocation still queued; sending its message again", extra={"invocation": invocation_id})
    sending.run_invocations([invocation_id])


def _final_row(invocation_id: str) -> Invocation:
    return Invocation.objects.select_related("function", "version").get(pk=invocation_id)


def _finished_among(invocation_ids: list[str]) -> list[str]:
    rows = Invocation.objects.filter(pk__in=invocation_ids, status__in=Invocation.FINAL)
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


# --- where the database work runs -----------------------------------------------------------------
# The server's waits share a few threads, so that they never queue behind the REST requests in
# a2wsgi's pool; their connections live as long as any request's (CONN_MAX_AGE).
_shared_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="invoke-wait")


async def _in_shared_threads(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_shared_threads, _with_connection, function, args)


def _with_connection(function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    close_old_connections()  # a connection past its age or broken is replaced, as per request
    try:
        return function(*args)
    finally:
        close_old_connections()


class _OwnThread:
    """One thread for one `wait_for()`; its database connection is closed when the wait ends (a
    blocking caller may be a test, or a WSGI process that idles for hours)."""

    def __enter__(self) -> _OwnThread:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="invoke-wait-own")
        return self

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(Exception):
            self._thread.submit(_close_this_threads_connection).result()
        self._thread.shutdown(wait=True)


def _close_this_threads_connection() -> None:
    # Called, not passed as `connection.close`: the proxy would resolve that in the caller's thread.
    connection.close()


# --- wake-ups -------------------------------------------------------------------------------------
class _Waiters:
    """Futures of the waits, by invocation id."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}

    def register(self, invocation_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(invocation_id, []).append(future)
        return future

    def unregister(self, invocation_id: str, future: asyncio.Future[None]) -> None:
        futures = self._waiting.get(invocation_id)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[invocation_id]

    def wake(self, invocation_id: str) -> None:
        for future in self._waiting.pop(invocation_id, []):
            if not future.done():
                future.set_result(None)

    def wake_all(self) -> None:
        for invocation_id in list(self._waiting):
            self.wake(invocation_id)


class _Poller(_Waiters):
    """Without NOTIFY: one query for all of this loop's waits every few milliseconds, only while
    there are some."""

    def __init__(self, run: DatabaseRunner = _in_shared_threads) -> None:
        super().__init__()
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def register(self, invocation_id: str) -> asyncio.Future[None]:
        future = super().register(invocation_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        return future

    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                finished = await self._run(_finished_among, list(self._waiting))
            except Exception:
                logger.warning("polling for finished invocations failed", exc_info=True)
                await asyncio.sleep(CHECK_EVERY)
                continue
            for invocation_id in finished:
                self.wake(invocation_id)


class _Listener(_Waiters):
    """One `LISTEN` connection per event loop: wakes the waits of the invocations it hears of."""

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None
        self.failed = False

    async def start(self) -> None:
        import psycopg  # PostgreSQL only: an embedded (SQLite) server never loads it

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        await self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        self._task = asyncio.get_running_loop().create_task(self._hear())

    async def _hear(self) -> None:
        try:
            async for notice in self._connection.notifies():
                self.wake(notice.payload)
        except Exception:
            logger.warning("lost the LISTEN connection of invocation waits; polling instead", exc_info=True)
        self.failed = True
        self.wake_all()  # their waits check the row, and the next ones poll


_listeners: dict[int, _Listener] = {}
_pollers: dict[int, _Poller] = {}
_listener_lock: asyncio.Lock | None = None


def _poller() -> _Poller:
    return _pollers.setdefault(id(asyncio.get_running_loop()), _Poller())


async def _listener() -> _Listener | None:
    """This loop's listener on PostgreSQL; None elsewhere (or when it cannot listen: poll then)."""
    if connection.vendor != "postgresql":
        return None
    global _listener_lock
    key = id(asyncio.get_running_loop())
    current = _listeners.get(key)
    if current is not None and not current.failed:
        return current
    if _listener_lock is None:
        _listener_lock = asyncio.Lock()
    async with _listener_lock:
        current = _listeners.get(key)
        if current is None or current.failed:
            listener = _Listener()
            try:
                await listener.start()
            except Exception:
                logger.warning("could not LISTEN for finished invocations; polling instead", exc_info=True)
                return None
            _listeners[key] = current = listener
    return current


# --- the worker's side ----------------------------------------------------------------------------
def announce_finished(invocation_id: Any) -> None:
    """Wake the web processes waiting for this invocation (PostgreSQL; elsewhere they poll). Call
    after the outcome is committed."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, str(invocation_id)])
    except Exception:
        logger.warning("could not announce a finished invocation (its caller's check will see it)", exc_info=True)
