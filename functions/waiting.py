"""Waiting for an invocation to finish (a synchronous HTTP invoke), and waking those who wait.

There is one wait loop, `wait_finished()`: check the row, and until it is finished or the time is
up, sleep until a wake-up or for at most a second, then check again; an invocation still `queued`
after a second has its message sent again (a lost message must not become a lost invocation, and
a duplicate is harmless: only one run can claim the row). It returns the row as it is at the end.
The first check is left out when the wake-up cannot have been missed (a poll follows every new
wait; a listener that was listening before the invocation was committed remembers what it heard
lately), so a warm invoke reads its row once, finished, in one plain statement (issue #19).

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
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, connection, transaction

from functions import plainsql, sending
from functions.models import Function, FunctionVersion, Invocation

logger = logging.getLogger("baas.functions")

NOTIFY_CHANNEL = "baas_invocation_done"
POLL_INTERVAL = 0.005
CHECK_EVERY = 1.0
RESEND_AFTER = 1.0
HEARD_KEPT = 4096  # finished invocations a listener remembers (seconds' worth at full speed)

# How a wait runs its database work: `await run(function, *args)`, off the event loop's thread
# (Django refuses database calls in a thread that runs an event loop).
DatabaseRunner = Callable[..., Awaitable[Any]]


# --- the one wait loop ----------------------------------------------------------------------------
async def wait_finished(
    invocation_id: Any,
    timeout: float,
    *,
    run: DatabaseRunner | None = None,
    waker: _Waiters | None = None,
    since: float | None = None,
) -> Invocation:
    """Return the invocation (with its function's name and its version's number) once it is
    finished, or as it is after `timeout` seconds. `run` and `waker` default to this event loop's
    shared ones (the ASGI server's); `wait_for()` passes its own. `since`: a `time.monotonic()`
    taken before the invocation was committed — when the waker has heard every wake-up since then,
    the row is not read before the first one (a warm invoke then reads its row once, finished)."""
    invocation_id = str(invocation_id)
    run = run or _in_shared_threads
    waker = waker or await _listener() or _poller()
    woken = waker.register(invocation_id)
    started = time.monotonic()
    deadline = started + timeout
    next_resend = started + RESEND_AFTER
    check = not waker.heard_everything_since(since)
    row: Invocation | None = None
    fresh = False  # `row` was read since the last wait
    try:
        while True:
            # The row is read first unless the waker cannot have missed its wake-up (it may have
            # finished before we listened), after each wake-up, and every second (a missed wake-up
            # costs at most that; a message still queued is sent again).
            if check or woken.done():
                row, fresh = await run(_row, invocation_id), True
                if row is None or row.status in Invocation.FINAL:
                    break
                if woken.done():  # woken for nothing (a lost LISTEN connection wakes every wait)
                    waker.unregister(invocation_id, woken)
                    woken = waker.register(invocation_id)
            check = True
            now = time.monotonic()
            if fresh and row is not None and row.status == Invocation.QUEUED and now >= next_resend:
                await run(_resend, invocation_id)
                next_resend = now + 2 * RESEND_AFTER
            if now >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(woken), min(CHECK_EVERY, deadline - now))
            fresh = False
    finally:
        waker.unregister(invocation_id, woken)
    if not fresh:
        row = await run(_row, invocation_id)
    if row is None:
        raise Invocation.DoesNotExist(f"invocation {invocation_id} does not exist")
    return row


def wait_for(invocation_id: Any, timeout: float) -> Invocation:
    """`wait_finished()` for a thread that may block (a WSGI request, the CLI, tests). Must not be
    called inside a transaction: each check must see the latest commit."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("wait_for() must not run inside a transaction")
    with _OwnThread() as own:
        return asyncio.run(wait_finished(invocation_id, timeout, run=own.run, waker=_Poller(own.run)))


def _resend(invocation_id: str) -> None:
    logger.warning("invocation still queued; sending its message again", extra={"invocation": invocation_id})
    sending.run_invocations([invocation_id])


# The row a wait returns, with what an answer shows of its function and version, in one plain
# statement: the ORM's select_related query cost three times its CPU (issue #19).
_ROW = "SELECT i.*, f.name AS function_name, v.number AS version_number FROM {} i JOIN {} f ON f.id = i.function_id JOIN {} v ON v.id = i.version_id WHERE i.id = %s"  # noqa: E501


def _row(invocation_id: str) -> Invocation | None:
    """The invocation, with its `function` (id and name) and `version` (id and number), or None."""
    tables = (model._meta.db_table for model in (Invocation, Function, FunctionVersion))
    sql = _ROW.format(*map(connection.ops.quote_name, tables))
    key = Invocation._meta.pk.get_db_prep_value(uuid.UUID(invocation_id), connection)
    invocation = plainsql.fetch_one(Invocation, sql, [key])
    if invocation is None:
        return None
    extra = vars(invocation)
    invocation.function = Function(id=invocation.function_id, name=extra.pop("function_name"))
    invocation.version = FunctionVersion(
        id=invocation.version_id, number=extra.pop("version_number"), function=invocation.function
    )
    return invocation


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

    def heard_everything_since(self, since: float | None) -> bool:
        """Whether every invocation that finished after `since` (a `time.monotonic()`) wakes its
        waits here, even one registered after it finished: then a wait need not read its row first."""
        return False


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

    def heard_everything_since(self, since: float | None) -> bool:
        return True  # a poll of every registered wait follows each registration

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
        self._listening_since: float | None = None
        # The invocations heard of lately, so that a wait registered after its NOTIFY arrived
        # wakes at once (the view commits and the worker may finish before the wait registers).
        self._heard: OrderedDict[str, None] = OrderedDict()

    def register(self, invocation_id: str) -> asyncio.Future[None]:
        future = super().register(invocation_id)
        if invocation_id in self._heard:
            self.wake(invocation_id)
        return future

    def heard_everything_since(self, since: float | None) -> bool:
        return (
            since is not None
            and not self.failed
            and self._listening_since is not None
            and self._listening_since <= since
        )

    async def start(self) -> None:
        import psycopg  # PostgreSQL only: an embedded (SQLite) server never loads it

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self._connection = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        await self._connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        self._listening_since = time.monotonic()  # every NOTIFY committed from now on reaches us
        self._task = asyncio.get_running_loop().create_task(self._hear())

    async def _hear(self) -> None:
        try:
            async for notice in self._connection.notifies():
                self._heard[notice.payload] = None
                if len(self._heard) > HEARD_KEPT:
                    self._heard.popitem(last=False)
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
