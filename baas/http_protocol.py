"""uvicorn's httptools protocol with bounds on the request head: size, count and time.

uvicorn reads headers without limits (a 200 KB header or 5,000 headers were accepted) and waits
for them without a clock (a client may take forever to finish its headers). Here:

- the request line and headers may take at most BAAS_MAX_HEADER_BYTES bytes (default 32 KiB,
  nginx's large_client_header_buffers) and BAAS_MAX_HEADERS headers (default 100): beyond, 431
  `headers_too_large`;
- they must arrive within BAAS_HEADER_TIMEOUT seconds of the connection or of the first byte of
  the request (default 10, like Apache's mod_reqtimeout): beyond, 408 `request_timeout`.

Either answer is in the API's error shape and closes the connection. No thread is involved: this
runs on the event loop, so slow-header clients cost a socket each and nothing more.

An answer's head and body, which uvicorn writes separately, leave in one write (one system call
and one TCP segment instead of two for a small answer): see `CoalescingTransport`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from baas.config import env_int

MAX_HEADER_BYTES = env_int("BAAS_MAX_HEADER_BYTES", 32 * 1024, minimum=1024)
MAX_HEADERS = env_int("BAAS_MAX_HEADERS", 100, minimum=8)
HEADER_TIMEOUT = env_int("BAAS_HEADER_TIMEOUT", 10, minimum=1)

LINGER_SECONDS = 2
_TOO_MANY_BYTES = f"The request line and headers may take at most {MAX_HEADER_BYTES} bytes."
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head that is over a limit."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._parsed_head_bytes = 0
        self._head_clock: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str] | None = None
        self._discarding = False

    # --- the clock ---
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def _start_head_clock(self) -> None:
        if self._head_clock is None:
            self._head_clock = self.loop.call_later(HEADER_TIMEOUT, self._head_too_slow)

    def _stop_head_clock(self) -> None:
        if self._head_clock is not None:
            self._head_clock.cancel()
            self._head_clock = None

    def _head_too_slow(self) -> None:
        self._head_clock = None
        if self._in_head and not self._discarding and not self.transport.is_closing():
            self._refuse(408, "request_timeout", "The request headers did not arrive in time.")

    # --- the parser callbacks ---
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_count = 0
        self._parsed_head_bytes = 0
        self._start_head_clock()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # (_count_head inlined: this runs for every header of every request)
        self._header_count += 1
        self._parsed_head_bytes += len(name) + len(value) + 4
        if self._header_count > MAX_HEADERS:
            self._refusal = (431, "headers_too_large", f"A request may carry at most {MAX_HEADERS} headers.")
            raise _HeadRefused
        if self._parsed_head_bytes > MAX_HEADER_BYTES:
            self._refusal = (431, "headers_too_large", _TOO_MANY_BYTES)
            raise _HeadRefused
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_HEADER_BYTES:
            self._refusal = (431, "headers_too_large", _TOO_MANY_BYTES)
            raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_clock()
        previous = getattr(self, "cycle", None)
        super().on_headers_complete()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and cycle is not previous:  # a new HTTP request (not an upgrade)
            cycle.transport = CoalescingTransport(self.transport, self.loop)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what comes next is the head of the next request
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES and not self._discarding:
            # Still no end of the head: the parser holds these bytes, so stop here.
            self._refuse(431, "headers_too_large", _TOO_MANY_BYTES)

    def send_400_response(self, msg: str) -> None:
        # A callback's refusal reaches here as a parser error.
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._stop_head_clock()
        body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            *[name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Close as nginx's lingering_close does: stop writing, drop what the client still sends
        # for a moment, then close. Closing with unread bytes would reset the connection, and
        # the reset can destroy the answer before the client reads it.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


class CoalescingTransport:
    """The transport as one request's answer sees it: what is written within one turn of the event
    loop goes out in one write at the end of that turn (the head and body of an answer), in order.
    Closing, or ending the output, sends what is pending first."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def write_now(self, data: bytes) -> None:
        """Write what is pending and `data`, at once."""
        if self._pending:
            self._pending.append(data)
            self.flush()
        elif not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def message_waiting(receive: Callable[..., Any]) -> Callable[[], bool] | None:
    """For the `receive` of a request served by this protocol: a test of whether its next message
    (the body, or the client's leaving) has arrived already, so awaiting it will not wait. uvicorn's
    cycle sets `message_event` whenever it has something for `receive`. None for any other server."""
    cycle = getattr(receive, "__self__", None)
    if isinstance(cycle, RequestResponseCycle):
        return cycle.message_event.is_set
    return None


def answer_at_once(send: Callable[..., Any], status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    """Send a whole answer (lowercase header names) in one write, if `send` is the send of a
    request served by this protocol and the answer is a plain one; else False, and nothing is sent
    (the caller then sends the two ASGI messages).

    What uvicorn's `send` does for `http.response.start` and a final `http.response.body`, in one
    step: the status line and its default headers (date, server), `connection: close` when the
    connection is not kept alive, the cycle's state and the pipelining hook. It checks each header
    name and value with a regular expression of its own (twenty searches for a typical API answer);
    here all names and all values are checked in two searches against the same expressions, and any
    answer out of the ordinary (HEAD, 204/304, a `transfer-encoding` or `connection` header, a
    `content-length` that is not the body's, a writer paused for a slow reader, an access log) is
    left to uvicorn. Measured in docs/serving.md."""
    cycle = getattr(send, "__self__", None)
    if (
        not isinstance(cycle, RequestResponseCycle)
        or cycle.response_started
        or cycle.disconnected
        or cycle.access_log
        or cycle.flow.write_paused
        or status in (204, 304)
        or status not in STATUS_LINE
        or cycle.scope["method"] == "HEAD"
    ):
        return False
    parts = [STATUS_LINE[status]]
    names: list[bytes] = []
    values: list[bytes] = []
    length: bytes | None = None
    for name, value in (*cycle.default_headers, *headers):
        if name == b"content-length":
            length = value
        elif name in (b"transfer-encoding", b"connection"):
            return False
        names.append(name)
        values.append(value)
        parts += (name, b": ", value, b"\r\n")
    if HEADER_RE.search(b"".join(names)) or HEADER_VALUE_RE.search(b"\t".join(values)):
        return False  # uvicorn's send refuses it, with its error
    if length is None:
        parts.append(b"content-length: %d\r\n" % len(body))
    elif not length.isdigit() or int(length) != len(body):
        return False
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", body)
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    cycle.expected_content_length = 0
    cycle.response_complete = True
    transport = cycle.transport
    data = b"".join(parts)
    if isinstance(transport, CoalescingTransport):
        transport.write_now(data)
    else:
        transport.write(data)
    cycle.message_event.set()
    if not cycle.keep_alive:
        transport.close()
    cycle.on_response()
    return True
