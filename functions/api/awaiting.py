"""A synchronous HTTP invoke whose wait holds no thread: the ASGI side awaits the result.

`POST /v1/functions/{name}/invoke` still goes through the whole WSGI stack (middleware,
authentication, throttling, the view, the service that records and queues the invocation), in
a2wsgi's thread pool. When the request came through `baas.asgi`, which marks it with this
process's secret hand-off token, the view does not wait there: it answers at once with a hand-off
header naming the invocation. `baas.asgi` holds that answer back, frees the thread, awaits the
invocation's end asynchronously, and then sends the real answer — built by the same function as
the WSGI view's (`views.invoke_answer`), with the headers the middleware set. Under a plain WSGI
server (`baas serve --interface wsgi`) no request carries the token and the view waits itself.

How the wait wakes up: on PostgreSQL, a `LISTEN` connection per process hears the worker's
`pg_notify` when an HTTP invocation finishes (functions/runner.py); elsewhere (SQLite), one query
for all of the process's waiting invocations every 5 ms, in a short thread hop. Either way each
row is also checked every second, and an invocation still `queued` after a second has its message
sent again (as services.wait_for does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("baas.functions")

# A request header only baas.asgi can set (a client's own copy is removed first): its value is a
# secret of this process, so a client cannot ask a WSGI server for a hand-off answer.
HANDOFF_REQUEST_HEADER = b"x-baas-invoke-handoff"
HANDOFF_META = "HTTP_X_BAAS_INVOKE_HANDOFF"
HANDOFF_TOKEN = secrets.token_urlsafe(24)
# The view's answer: "<invocation id> <seconds to wait>".
HANDOFF_RESPONSE_HEADER = "X-Baas-Await-Invocation"
NOTIFY_CHANNEL = "baas_invocation_done"

_INVOKE_PATH = re.compile(r"^/v1/functions/[^/]+/invoke/?$")
_POLL_INTERVAL = 0.005
_CHECK_EVERY = 1.0

# Database work of the waits (a status check, the final read): a few threads of their own, so that
# they never queue behind the REST requests in a2wsgi's pool.
_db_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="invoke-wait")

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def applies(scope: dict[str, Any]) -> bool:
    return scope["type"] == "http" and scope.get("method") == "POST" and bool(_INVOKE_PATH.match(scope["path"]))


def may_hand_off(meta: dict[str, Any]) -> bool:
    """Whether the request came through baas.asgi (which awaits the result itself)."""
    return secrets.compare_digest(str(meta.get(HANDOFF_META, "")), HANDOFF_TOKEN)


async def serve(app: ASGIApp, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run an invoke request through the WSGI `app`; if it hands off, await and answer here."""
    headers = [(name, value) for name, value in scope["headers"] if name.lower() != HANDOFF_REQUEST_HEADER]
    scope = {**scope, "headers": [*headers, (HANDOFF_REQUEST_HEADER, HANDOFF_TOKEN.encode())]}
    held = _HeldAnswer(send)
    await app(scope, receive, held.send)
    if held.invocation_id is None:
        return
    try:
        await wait_finished(held.invocation_id, held.timeout)
        status, body = await _in_db_thread(_final_answer, held.invocation_id, held.for_owner)
    except Exception:
        logger.exception("waiting for an invocation failed", extra={"invocation": held.invocation_id})
        status, body = 500, _internal_error()
    await held.answer(status, body)


class _HeldAnswer:
    """Passes an ordinary answer through; keeps back a hand-off answer and its headers."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.invocation_id: str | None = None
        self.timeout = 0.0
        self.for_owner = False  # the caller may see logs and tracebacks (views.may_see_internals)
        self._headers: list[tuple[bytes, bytes]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            wanted = HANDOFF_RESPONSE_HEADER.lower().encode()
            handoff = [value for name, value in message.get("headers", []) if name.lower() == wanted]
            if handoff:
                invocation_id, timeout, audience = handoff[0].decode().split()
                self.invocation_id, self.timeout = invocation_id, float(timeout)
                self.for_owner = audience == "owner"
                skip = {wanted, b"content-length", b"content-type"}
                self._headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in skip]
                return
        if self.invocation_id is not None:
            return  # the hand-off answer's body: replaced by the real answer
        await self._send(message)

    async def answer(self, status: int, body: bytes) -> None:
        headers = [*self._headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        with contextlib.suppress(OSError):  # the client went away: the invocation is recorded anyway
            await self._send({"type": "http.response.start", "status": status, "headers": headers})
            await self._send({"type": "http.response.body", "body": body})


async def _in_db_thread(function: Callable[..., Any], *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_db_threads, _with_connection, function, args)


def _with_connection(function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    from django.db import close_old_connections

    close_old_connections()  # a connection past its age or broken is replaced, as per request
    try:
        return function(*args)
    finally:
        close_old_connections()


def _status(invocation_id: str) -> str | None:
    from functions.models import Invocation

    return Invocation.objects.filter(pk=invocation_id).values_list("status", flat=True).first()


def _resend(invocation_id: str) -> None:
    from functions.tasks import run_invocation

    logger.warning("invocation still queued; sending its message again", extra={"invocation": invocation_id})
    run_invocation.delay(invocation_id)


def _final_answer(invocation_id: str, for_owner: bool) -> tuple[int, bytes]:
    from rest_framework.renderers import JSONRenderer

    from functions.api.views import invoke_answer
    from functions.models import Invocation

    invocation = Invocation.objects.select_related("function", "version").get(pk=invocation_id)
    status, data = invoke_answer(invocation, for_owner=for_owner)
    return status, JSONRenderer().render(data)


def _internal_error() -> bytes:
    import json

    from baas.errors import error_body

    return json.dumps(error_body("internal_error", "The server failed to wait for the result.")).encode()


async def wait_finished(invocation_id: str, timeout: float) -> None:
    """Return when the invocation is finished (or after `timeout` seconds)."""
    from functions.models import Invocation

    waker = await _listener() or _poller()
    woken = waker.register(invocation_id)
    started = time.monotonic()
    deadline = started + timeout
    next_resend = started + 1.0
    try:
        while True:
            # A check of the row first (it may have finished before we listened) and every second
            # (a missed wake-up costs at most that; a message still queued is sent again).
            status = await _in_db_thread(_status, invocation_id)
            if status is None or status in Invocation.FINAL:
                return
            now = time.monotonic()
            if status == Invocation.QUEUED and now >= next_resend:
                await _in_db_thread(_resend, invocation_id)
                next_resend = now + 2.0
            if now >= deadline:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(woken), min(_CHECK_EVERY, deadline - now))
            if woken.done():
                return
    finally:
        waker.unregister(invocation_id, woken)


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
    """Without NOTIFY (SQLite): one query for all of this loop's waits every few milliseconds,
    only while there are some."""

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None

    def register(self, invocation_id: str) -> asyncio.Future[None]:
        future = super().register(invocation_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        return future

    async def _poll(self) -> None:
        while self._waiting:
            await asyncio.sleep(_POLL_INTERVAL)
            try:
                finished = await _in_db_thread(_finished_among, list(self._waiting))
            except Exception:
                logger.warning("polling for finished invocations failed", exc_info=True)
                await asyncio.sleep(_CHECK_EVERY)
                continue
            for invocation_id in finished:
                self.wake(invocation_id)


def _finished_among(invocation_ids: list[str]) -> list[str]:
    from functions.models import Invocation

    rows = Invocation.objects.filter(pk__in=invocation_ids, status__in=Invocation.FINAL)
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


class _Listener(_Waiters):
    """One `LISTEN` connection per event loop: wakes the waits of the invocations it hears of."""

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[None] | None = None
        self.failed = False

    async def start(self) -> None:
        import psycopg
        from django.db import connection

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
    from django.db import connection

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


def announce_finished(invocation_id: Any) -> None:
    """Wake the web processes waiting for this invocation (PostgreSQL; elsewhere they poll)."""
    from django.db import connection

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, str(invocation_id)])
    except Exception:
        logger.warning("could not announce a finished invocation (its caller's check will see it)", exc_info=True)
