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

Plain REST requests (the app says which: `PlainRest`) take a path of their own here: the WSGI
environ is built from the parser's callbacks and handed to a REST thread as soon as the request is
whole, and the answer is written from the thread's reply; no ASGI scope, no uvicorn request cycle,
no event and no task (`PlainRequest`). Everything else (websockets and other upgrades, HEAD,
`Expect`, chunked or large bodies, a body that does not arrive with its head, the app's async
routes) goes through uvicorn's cycle as before. docs/serving.md, "One port at WSGI speed".
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from typing import Any, Protocol
from urllib.parse import unquote

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

# A crash of the app itself (not an error Django or the lean front answered): baas.errors.InternalError's
# code and message, in the API's error shape (this module stays free of Django).
INTERNAL_ERROR_BODY = json.dumps(
    {"error": {"code": "internal_error", "message": "Something went wrong on our side.", "details": {}}}
).encode()
INTERNAL_ERROR_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(INTERNAL_ERROR_BODY)),
    (b"connection", b"close"),  # as uvicorn closes after a crash: the app's state is unknown
]


class _Answer(Protocol):
    status: int
    headers: list[tuple[bytes, bytes]]


PlainReply = Callable[[_Answer, "list[bytes] | None", "BaseException | None"], None]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class PlainRest:
    """What an app tells this protocol (as its `plain_rest` attribute) to serve plain REST requests
    without ASGI: `serve(loop, environ, send, reply)` runs the WSGI app on the environ and calls
    `reply(answer, pieces, error)` on the loop (`baas.wsgi_bridge.BufferedWSGI.serve_plain`);
    requests with a declared body over `body_bytes`, or a path under one of `async_prefixes`, go
    through the ASGI app instead."""

    serve: Callable[[asyncio.AbstractEventLoop, dict[str, Any], Send, PlainReply], None]
    body_bytes: int
    async_prefixes: tuple[bytes, ...]


_PLAIN_METHODS = {method: method.decode() for method in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS")}


class _NoEvent:
    """A plain request's stand-in for the cycle's `message_event` (uvicorn sets it on a lost
    connection; nothing waits on it)."""

    @staticmethod
    def set() -> None:
        pass


class PlainRequest:
    """A plain REST request in the protocol's `cycle` and `pipeline`, where uvicorn keeps its
    request cycles: it has what uvicorn reads of a cycle there (`response_complete`, `keep_alive`,
    `disconnected`, `message_event`), so pipelining, graceful shutdown and lost connections work
    alike for both. `cycle` is a uvicorn cycle made only when the answer needs one (an unusual or
    large answer, a writer paused by a slow reader)."""

    __slots__ = (
        *("body", "cycle", "environ", "keep_alive"),
        *("disconnected", "previous", "protocol", "response_complete"),
    )
    message_event = _NoEvent

    def __init__(
        self, protocol: BoundedHttpToolsProtocol, environ: dict[str, Any], keep_alive: bool, previous: Any
    ) -> None:
        self.protocol = protocol
        self.environ = environ
        self.keep_alive = keep_alive
        self.previous = previous  # the request before this one on the connection, until this one starts
        self.body = b""
        self.response_complete = False
        self.disconnected = False
        self.cycle: RequestResponseCycle | None = None

    async def send(self, message: dict[str, Any]) -> None:
        """uvicorn's send, for an answer that cannot leave in one write (from the loop)."""
        cycle = self.cycle
        if cycle is None:
            cycle = self.cycle = self.protocol._cycle_for(self)
        await cycle.send(message)  # type: ignore[arg-type]


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
        self._head_begun = False  # a request's first bytes came, its head is not complete yet
        plain = getattr(self.app, "plain_rest", None)
        # (uvicorn's concurrency limit and a root path are left to its own cycle)
        self._plain: PlainRest | None = (
            plain if isinstance(plain, PlainRest) and self.limit_concurrency is None and not self.root_path else None
        )
        self._environ: dict[str, Any] = {}  # what every plain request of this connection starts from
        self._reading: PlainRequest | None = None  # a plain request whose head is in and body not yet

    # --- the clock ---
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        request = self.cycle
        if type(request) is PlainRequest and request.cycle is not None and not request.response_complete:
            request.cycle.disconnected = True
            request.cycle.message_event.set()
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
        # uvicorn builds the ASGI scope here; it is built only for requests its cycle serves
        # (_make_scope). The head clock starts at the end of the read, if the head is still
        # incomplete then (data_received): a head that came whole arms no timer.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._in_head = True
        self._head_begun = True
        self._header_count = 0
        self._parsed_head_bytes = 0

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
        self.headers.append((name, value))  # as sent: lowercased by _make_scope, if ever needed

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_HEADER_BYTES:
            self._refusal = (431, "headers_too_large", _TOO_MANY_BYTES)
            raise _HeadRefused

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_begun = False
        self._head_bytes = 0
        self._stop_head_clock()
        if self._plain is not None:
            request = self._plain_request(self._plain)
            if request is not None:
                self.cycle = self._reading = request  # type: ignore[assignment]
                return
        self._make_scope()
        self._start_cycle()

    def _start_cycle(self) -> None:
        """What uvicorn does with a complete head: a cycle, started or queued behind the one before."""
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous:  # a new HTTP request (not an upgrade)
            cycle.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]

    def _make_scope(self) -> None:
        """The ASGI scope uvicorn's on_message_begin and on_header would have built."""
        headers = []
        for name, value in self.headers:
            name = name.lower()
            if name == b"expect" and value.lower() == b"100-continue":
                self.expect_100_continue = True
            headers.append((name, value))
        self.headers = headers
        self.scope = {  # type: ignore[typeddict-item]
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,  # type: ignore[typeddict-item]
            "root_path": self.root_path,
            "headers": headers,
            "state": self.app_state.copy(),
        }

    def on_body(self, body: bytes) -> None:
        request = self._reading
        if request is not None:
            request.body += body
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True  # what comes next is the head of the next request
        self._head_bytes = 0
        request = self._reading
        if request is not None:
            self._reading = None
            previous = request.previous
            request.previous = None
            if previous is None or previous.response_complete:
                self._hand_off(request)
            else:  # pipelined: it starts when the one before has been answered (on_response_complete)
                self.flow.pause_reading()
                self.pipeline.appendleft((request, None))  # type: ignore[arg-type]
        else:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head:
            if self._head_bytes > MAX_HEADER_BYTES and not self._discarding:
                # Still no end of the head: the parser holds these bytes, so stop here.
                self._refuse(431, "headers_too_large", _TOO_MANY_BYTES)
            elif self._head_begun and self._head_clock is None:
                self._start_head_clock()
        elif self._reading is not None and self.parser is not None:
            # A plain request whose body did not come with its head: its body is read as uvicorn's
            # cycle reads it, against the body clock (baas/request_bodies.py).
            self._to_cycle(self._reading)

    # --- plain REST requests ---
    def _plain_request(self, plain: PlainRest) -> PlainRequest | None:
        """The request whose head is complete as a plain request, or None if uvicorn's cycle is
        to serve it."""
        parser = self.parser
        method = _PLAIN_METHODS.get(parser.get_method())
        url = self.url
        if method is None or parser.should_upgrade() or url[:1] != b"/" or b"#" in url:
            return None
        raw_path, _, query = url.partition(b"?")
        if raw_path.startswith(plain.async_prefixes):
            return None
        try:
            path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            return None  # uvicorn's cycle refuses it as it did
        if "%" in path:
            path = unquote(path).encode("utf-8").decode("latin-1")
        environ = self._environ.copy() if self._environ else self._connection_environ()
        environ["REQUEST_METHOD"] = method
        environ["PATH_INFO"] = path
        environ["QUERY_STRING"] = query.decode("latin-1")
        version = parser.get_http_version()
        if version != "1.1":
            environ["SERVER_PROTOCOL"] = "HTTP/" + version
        add_headers(environ, self.headers)
        if "HTTP_TRANSFER_ENCODING" in environ or "HTTP_EXPECT" in environ or "HTTP_UPGRADE" in environ:
            return None
        length = environ.get("CONTENT_LENGTH")
        if length is not None and (not length.isdigit() or int(length) > plain.body_bytes):
            return None
        keep_alive = version != "1.0" and parser.should_keep_alive()
        return PlainRequest(self, environ, keep_alive, self.cycle)

    def _connection_environ(self) -> dict[str, Any]:
        """The environ's entries that are the same for every request of this connection (what
        baas.wsgi_bridge.build_environ gives for them)."""
        server = self.server or ("localhost", 80)
        environ: dict[str, Any] = {
            "SCRIPT_NAME": "",
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1] or 0),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.scheme or "http",
            "wsgi.input_terminated": True,  # the body is whole
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if self.client is not None:
            environ["REMOTE_ADDR"] = self.client[0]
            environ["REMOTE_PORT"] = str(self.client[1])
        self._environ = environ
        return environ.copy()

    def _to_cycle(self, request: PlainRequest) -> None:
        """Serve a plain request whose body is still on its way through uvicorn's cycle instead."""
        self._reading = None
        self.cycle = request.previous
        self._make_scope()
        self._start_cycle()
        if request.body:
            self.cycle.body += request.body
            self.cycle.message_event.set()

    def shutdown(self) -> None:
        request = self.cycle
        if type(request) is PlainRequest and request.cycle is not None:
            request.cycle.keep_alive = False
        super().shutdown()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        if type(cycle) is PlainRequest:  # a pipelined plain request's turn
            self._hand_off(cycle)
        else:
            super()._start_asgi_task(cycle, app)

    def _hand_off(self, request: PlainRequest) -> None:
        assert self._plain is not None
        request.environ["wsgi.input"] = BytesIO(request.body)
        self._plain.serve(self.loop, request.environ, request.send, partial(self._answer, request))

    def _answer(
        self, request: PlainRequest, answer: _Answer, pieces: list[bytes] | None, error: BaseException | None
    ) -> None:
        """The REST thread's reply (on the loop): write the answer, then on to the next request."""
        if error is not None:
            self.logger.error("Exception in the REST app", exc_info=error)
            status, headers, pieces = 500, INTERNAL_ERROR_HEADERS, [INTERNAL_ERROR_BODY]
        else:
            status, headers = answer.status, answer.headers
        if pieces is None or request.disconnected or self.transport.is_closing():
            return  # streamed by the thread through request.send; or nobody is there to read it
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        data = (
            None
            if self.flow.write_paused
            else _one_write(self.server_state.default_headers, status, headers, body, request.keep_alive)
        )
        if data is None:  # out of the ordinary: uvicorn's send
            task = self.loop.create_task(_send_whole(request.send, status, headers, body))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        self.transport.write(data)
        request.response_complete = True
        if not request.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _cycle_for(self, request: PlainRequest) -> RequestResponseCycle:
        """A uvicorn cycle to send a plain request's answer with (its body has been read)."""
        environ = request.environ
        cycle = RequestResponseCycle(
            scope={"type": "http", "method": environ["REQUEST_METHOD"], "http_version": environ["SERVER_PROTOCOL"][5:]},  # type: ignore[typeddict-item]
            transport=CoalescingTransport(self.transport, self.loop),  # type: ignore[arg-type]
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=False,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=request.keep_alive,
            on_response=partial(self._plain_sent, request),
        )
        cycle.more_body = False
        cycle.disconnected = request.disconnected
        return cycle

    def _plain_sent(self, request: PlainRequest) -> None:
        request.response_complete = True
        self.on_response_complete()

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


async def _send_whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The environ key of a header name. Names repeat from one request to the next, so each is worked
# out once; the table stops growing at a bound, as clients may send any names they like.
_HEADER_ENVIRON_KEYS: dict[bytes, str] = {}
_HEADER_ENVIRON_KEYS_BOUND = 1024


def header_environ_key(raw_name: bytes) -> str | None:
    """The WSGI environ key of a header name as the client wrote it, or None for a name with an
    underscore: in the environ `X_Forwarded_For` and `X-Forwarded-For` would be one key, so a
    client could add to a header a trusted proxy sets (Django's runserver and gunicorn drop
    them too)."""
    if b"_" in raw_name:
        return None
    name = raw_name.lower()
    if name == b"content-length":
        key = "CONTENT_LENGTH"
    elif name == b"content-type":
        key = "CONTENT_TYPE"
    else:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_HEADER_ENVIRON_KEYS) < _HEADER_ENVIRON_KEYS_BOUND:
        _HEADER_ENVIRON_KEYS[raw_name] = key
    return key


def add_headers(environ: dict[str, Any], headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Put request headers into a WSGI environ: repeated names joined with commas, as a WSGI
    server does; names with an underscore left out (`header_environ_key`)."""
    keys = _HEADER_ENVIRON_KEYS
    for name, raw_value in headers:
        key = keys.get(name)
        if key is None:
            key = header_environ_key(name)
            if key is None:
                continue
        value = raw_value.decode("latin-1")
        if key in environ:
            value = environ[key] + "," + value
        environ[key] = value


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
    data = _one_write(cycle.default_headers, status, headers, body, cycle.keep_alive)
    if data is None:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    cycle.expected_content_length = 0
    cycle.response_complete = True
    transport = cycle.transport
    if isinstance(transport, CoalescingTransport):
        transport.write_now(data)
    else:
        transport.write(data)
    cycle.message_event.set()
    if not cycle.keep_alive:
        transport.close()
    cycle.on_response()
    return True


def _one_write(
    default_headers: list[tuple[bytes, bytes]],
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    keep_alive: bool,
) -> bytes | None:
    """A plain answer (not to HEAD) as the bytes of one write, or None when it is out of the
    ordinary (see answer_at_once) and uvicorn's send is to write it."""
    if status in (204, 304) or status not in STATUS_LINE:
        return None
    parts = [STATUS_LINE[status]]
    names: list[bytes] = []
    values: list[bytes] = []
    length: bytes | None = None
    for name, value in (*default_headers, *headers):
        if name == b"content-length":
            length = value
        elif name in (b"transfer-encoding", b"connection"):
            return None
        names.append(name)
        values.append(value)
        parts += (name, b": ", value, b"\r\n")
    if HEADER_RE.search(b"".join(names)) or HEADER_VALUE_RE.search(b"\t".join(values)):
        return None  # uvicorn's send refuses it, with its error
    if length is None:
        parts.append(b"content-length: %d\r\n" % len(body))
    elif not length.isdigit() or int(length) != len(body):
        return None
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)
