"""`GET /v1/functions/{name}/logs` as server-sent events, streamed without holding a REST thread.

Like the synchronous invoke (functions/api/awaiting.py), the request goes through the whole WSGI
stack first — authentication, the right to manage the function, parsing of `cursor` /
`Last-Event-ID` and `tail` — in a2wsgi's thread pool. When it came through `baas.asgi` the view
answers at once with a hand-off header; `baas.asgi` then holds the connection open here, on the
event loop, and pushes one `invocation` event each time an attempt of the function ends, with
its logs, result and error. Each event's `id` is a cursor: a client that reconnects (after a
dropped connection or a server restart) sends it back as `Last-Event-ID` (or `?cursor=`) and
resumes exactly after it. A comment line every 15 s keeps proxies from closing an idle stream.

The rows come from `selectors.finished_attempts`, looked at every 250 ms per stream (one indexed
query). An attempt that committed late with an earlier `finished_at` is still caught: each look
goes 2 s back and skips what this stream already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import close_old_connections
from django.utils.dateparse import parse_datetime

from baas.pagination import decode_cursor, encode_cursor
from functions import selectors
from functions.api import awaiting
from functions.api.representations import invocation_repr

logger = logging.getLogger("baas.functions")

# The view's answer: "<function id> <cursor or -> <tail>".
HANDOFF_RESPONSE_HEADER = "X-Baas-Stream-Logs"
LOOK_EVERY = 0.25
HEARTBEAT_EVERY = 15.0
LATE_COMMIT_WINDOW = timedelta(seconds=2)
LATE_LOOK_EVERY = 4  # looks: once a second
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NO_ID = "00000000-0000-0000-0000-000000000000"

_LOGS_PATH = re.compile(r"^/v1/functions/[^/]+/logs/?$")
_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="log-stream")
# Set when the server is asked to stop: open streams end at once (their clients resume by cursor)
# instead of holding the graceful shutdown for its whole timeout.
_stopping = threading.Event()
_watching_signals = False


def applies(scope: dict[str, Any]) -> bool:
    return scope["type"] == "http" and scope.get("method") == "GET" and bool(_LOGS_PATH.match(scope["path"]))


def entry(invocation: Any) -> dict[str, Any]:
    """One event's data: the invocation as its owner sees it, and the cursor to resume after it."""
    return {**invocation_repr(invocation, for_owner=True), "cursor": cursor_of(invocation)}


def cursor_of(invocation: Any) -> str:
    return encode_cursor([invocation.finished_at.isoformat(), str(invocation.pk)])


def event_bytes(item: dict[str, Any]) -> bytes:
    return f"id: {item['cursor']}\nevent: invocation\ndata: {json.dumps(item)}\n\n".encode()


def _position_event(cursor: str) -> bytes:
    return f"id: {cursor}\nevent: position\ndata: {json.dumps({'cursor': cursor})}\n\n".encode()


def handoff_header(function_id: Any, position: tuple[datetime, Any] | None, tail: int) -> dict[str, str]:
    cursor = encode_cursor([position[0].isoformat(), str(position[1])]) if position else "-"
    return {HANDOFF_RESPONSE_HEADER: f"{function_id} {cursor} {tail}"}


async def serve(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run the logs request through the WSGI `app`; if it hands off, stream the events here."""
    headers = [(n, v) for n, v in scope["headers"] if n.lower() != awaiting.HANDOFF_REQUEST_HEADER]
    scope = {**scope, "headers": [*headers, (awaiting.HANDOFF_REQUEST_HEADER, awaiting.HANDOFF_TOKEN.encode())]}
    held = _Held(send)
    await app(scope, receive, held.send)
    if held.handoff is None:
        return
    _watch_stop_signals()
    function_id, cursor, tail = held.handoff.split()
    position = _position(cursor)
    gone = asyncio.Event()
    watcher = asyncio.ensure_future(_watch_disconnect(receive, gone))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": held.stream_headers()})
        await send({"type": "http.response.body", "body": b": stream open\n\n", "more_body": True})
        await _pump(function_id, position, int(tail), send, gone)
    except OSError:
        pass  # the client went away
    except Exception:  # the client reconnects with its cursor
        logger.exception("the log stream failed", extra={"function_id": function_id})
    finally:
        watcher.cancel()
        with contextlib.suppress(Exception):  # the client may be gone
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(
    function_id: str, position: tuple[datetime, str] | None, tail: int, send: Any, gone: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()

    async def read(after: Any, tail: int = 0, until: Any = None) -> list[Any] | None:
        return await loop.run_in_executor(_threads, _read, function_id, after, tail, until)

    sent: dict[str, datetime] = {}  # "id finished_at" of what this stream sent lately
    rows: list[Any] | None = []
    if position is None:
        # No cursor: the last `tail` first, then all after the newest (there may be none yet).
        rows = await read(None, tail)
        if rows is not None and not rows:
            newest = await read(None, 1)
            position = _position_of(newest[-1]) if newest else (EPOCH, NO_ID)
            # Where this stream starts, so a client that reconnects before any event misses nothing.
            start = encode_cursor([position[0].isoformat(), position[1]])
            await send({"type": "http.response.body", "body": _position_event(start), "more_body": True})
    # The client has everything up to here (its cursor, or what this stream started with): the
    # late-commit look-back never goes further back than this, so a resumed stream repeats nothing.
    floor = position
    looks = 0
    last_write = time.monotonic()
    while True:
        if rows is None:
            await send({"type": "http.response.body", "body": b"event: end\ndata: {}\n\n", "more_body": True})
            return
        chunks = []
        for row in rows:
            key = f"{row.pk} {row.finished_at.isoformat()}"
            if key in sent:
                continue
            sent[key] = row.finished_at
            chunks.append(event_bytes(entry(row)))
            if position is None or _position_of(row) > position:
                position = _position_of(row)
        assert position is not None
        floor = floor or position
        horizon = position[0] - 2 * LATE_COMMIT_WINDOW
        sent = {k: at for k, at in sent.items() if at >= horizon}
        now = time.monotonic()
        if not chunks and now - last_write >= HEARTBEAT_EVERY:
            chunks.append(b": keep-alive\n\n")
        if chunks:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            last_write = now
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(gone.wait(), LOOK_EVERY)
        if gone.is_set() or _stopping.is_set():
            return
        rows = await read(position)
        looks += 1
        if rows is not None and looks % LATE_LOOK_EVERY == 0:
            # Attempts that committed after later ones were sent (their finished_at is earlier).
            late = await read(max((position[0] - LATE_COMMIT_WINDOW, NO_ID), floor), 0, position)
            rows = [*(late or []), *rows]


def _watch_stop_signals() -> None:
    """Chain onto the server's SIGINT/SIGTERM handlers (uvicorn installs them with `signal.signal`
    in the main thread, where this runs) to learn that it is stopping. Only handlers that are
    Python callables are chained; a default disposition is left alone."""
    global _watching_signals
    if _watching_signals or threading.current_thread() is not threading.main_thread():
        return
    _watching_signals = True
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(number: int, frame: Any, previous: Any = previous) -> None:
            _stopping.set()
            previous(number, frame)

        signal.signal(signum, handler)


def _position_of(row: Any) -> tuple[datetime, str]:
    return (row.finished_at, str(row.pk))


def _read(
    function_id: str, after: tuple[datetime, str] | None, tail: int, until: tuple[datetime, str] | None
) -> list[Any] | None:
    """The next rows, or None once the function is gone (deleted). In a thread of this module."""
    close_old_connections()
    try:
        if selectors.function_exists(function_id) is False:
            return None
        # "" stands for "before any id" at that time (the start of a stream, a look-back window).
        if after is not None:
            after = (after[0], after[1] or NO_ID)
        if until is not None:
            until = (until[0], until[1] or NO_ID)
        return selectors.finished_attempts(function_id, after=after, tail=tail, until=until, limit=500)
    finally:
        close_old_connections()


def _position(cursor: str) -> tuple[datetime, str] | None:
    if cursor == "-":
        return None
    at, last_id = decode_cursor(cursor) or [None, None]
    parsed = parse_datetime(str(at))
    return (parsed, str(last_id)) if parsed else None


async def _watch_disconnect(receive: Any, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


class _Held:
    """Passes an ordinary answer (an error, a JSON page) through; keeps back a hand-off answer."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self.handoff: str | None = None
        self._headers: list[tuple[bytes, bytes]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            wanted = HANDOFF_RESPONSE_HEADER.lower().encode()
            found = [value for name, value in message.get("headers", []) if name.lower() == wanted]
            if found:
                self.handoff = found[0].decode()
                skip = {wanted, b"content-length", b"content-type"}
                self._headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in skip]
                return
        if self.handoff is not None:
            return  # the hand-off answer's own body
        await self._send(message)

    def stream_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            *self._headers,
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
        ]
