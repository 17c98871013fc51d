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
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
        self._header_count += 1
        if self._header_count > MAX_HEADERS:
            self._refusal = (431, "headers_too_large", f"A request may carry at most {MAX_HEADERS} headers.")
            raise _HeadRefused
        self._count_head(len(name) + len(value) + 4)
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

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
