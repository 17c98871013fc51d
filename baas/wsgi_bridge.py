"""A thin hand-off from the ASGI server to Django's WSGI app, for requests whose body is in memory.

`baas.asgi` reads every body of up to BAAS_BODY_BUFFER_BYTES on the event loop before a REST
thread is involved (baas/request_bodies.py), so the WSGI side of those requests never waits for
the client. a2wsgi, the general adapter, does not know that: it wires a body queue and sends each
piece of the answer from the thread through `run_coroutine_threadsafe(...).result()`, several
blocking hops between the thread and the loop per request. Here a request costs one hop each way:
the thread gets the environ with the body as a BytesIO, runs the app and gathers the answer; the
loop sends it. The hop itself is `RestThreads`, not `run_in_executor`: a ThreadPoolExecutor's
future (a Condition, its lock, the chaining of a concurrent future to an asyncio one and the pool's
idle semaphore) cost more per request than the thread's job needs: a queue in, one
`call_soon_threadsafe` out. An answer larger than BUFFERED_ANSWER_BYTES (a big download) is streamed from the
thread instead, piece by piece, each send awaited, so memory stays bounded and a slow reader slows
the thread down rather than filling the process (as under a2wsgi).

Measured in docs/serving.md ("One port at WSGI speed").
"""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from baas.http_protocol import INTERNAL_ERROR_BODY, INTERNAL_ERROR_HEADERS, add_headers, answer_at_once

logger = logging.getLogger("baas")

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]
PlainReply = Callable[["Answer", "list[bytes] | None", "BaseException | None"], None]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Answers up to this size are gathered in the thread and sent by the loop in one write; beyond,
# the rest is streamed (each piece awaited, so a slow reader holds back the thread, not memory).
BUFFERED_ANSWER_BYTES = 256 * 1024


Reply = Callable[[Any, "BaseException | None"], None]
_Job = tuple["_Replies", Reply, Callable[..., Any], tuple[Any, ...]]


class _Replies:
    """The threads' replies for one event loop, handed over with one wake-up of the loop for as many
    as are waiting by then (call_soon_threadsafe writes to the loop's self-pipe each time, and the
    loop reads it back: two system calls and a wake-up per request otherwise)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)  # (the threads' table of these is keyed weakly by the loop)
        self._lock = threading.Lock()
        self._waiting: list[tuple[Reply, tuple[Any, BaseException | None]]] = []

    def put(self, reply: Reply, outcome: tuple[Any, BaseException | None]) -> None:
        """Raises RuntimeError when the loop is closed."""
        with self._lock:
            self._waiting.append((reply, outcome))
            if len(self._waiting) > 1:
                return  # a hand-over is on its way and takes this one too
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the event loop is gone")
        loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
        for reply, outcome in waiting:
            try:
                reply(*outcome)
            except Exception as error:  # as the loop reports a failing callback, and go on
                asyncio.get_running_loop().call_exception_handler({"message": "REST reply failed", "exception": error})


class RestThreads:
    """Up to `size` threads running jobs for the event loop, started as they are needed (a thread
    is added only when none is idle, as ThreadPoolExecutor does, so each thread's database
    connection is opened only when concurrency asks for it)."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job and not yet promised one
        self._started = 0
        self._replies: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Replies] = weakref.WeakKeyDictionary()

    def run(self, loop: asyncio.AbstractEventLoop, function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """An awaitable for `function(*args)` run in one of the threads."""
        future = loop.create_future()
        self.call(loop, function, args, partial(_settle, future))
        return future

    def call(
        self, loop: asyncio.AbstractEventLoop, function: Callable[..., Any], args: tuple[Any, ...], reply: Reply
    ) -> None:
        """Run `function(*args)` in one of the threads, then `reply(result, error)` on `loop` (no
        future: the plain request path of baas/http_protocol.py answers from the reply itself)."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                spawn = False
            else:
                spawn = self._started < self._size
                if spawn:
                    self._started += 1
            replies = self._replies.get(loop)
            if replies is None:
                replies = self._replies[loop] = _Replies(loop)
        self._jobs.put((replies, reply, function, args))
        if spawn:
            threading.Thread(target=self._work, name=f"{self._name}_{self._started}", daemon=True).start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            replies, reply, function, args = jobs.get()
            try:
                result = function(*args)
            except BaseException as error:  # handed to the awaiting task, as run_in_executor does
                outcome: tuple[Any, BaseException | None] = (None, error)
            else:
                outcome = (result, None)
            # Idle before the answer is handed back: the loop may send this connection's next
            # request at once, and it should wait for this thread rather than start another one
            # (which would open a database connection of its own).
            with lock:
                self._idle += 1
            try:
                replies.put(reply, outcome)
            except RuntimeError:  # the loop is closed: the server has stopped
                return
            del replies, reply, function, args, outcome


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Answer:
    """What the WSGI app said: status and headers, and the body gathered so far."""

    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        if exc_info is not None and self.headers:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = int(status[:3])
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return _no_write


def _no_write(data: bytes) -> None:  # pragma: no cover - Django never uses write()
    raise RuntimeError("the WSGI write() callable is not supported")


class BufferedWSGI:
    """An ASGI app running a WSGI app on a thread pool of its own, for bodies already read.

    Call `serve(scope, body, send)` with the whole body; as an ASGI app (`__call__`) it reads the
    body from `receive` first (the messages `request_bodies.replaying` hands out: no waiting)."""

    def __init__(self, app: WSGIApp, threads: int, name: str = "rest") -> None:
        self.app = app
        self.threads = RestThreads(threads, name)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]], send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was complete
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.serve(scope, b"".join(chunks), send)

    async def serve(self, scope: dict[str, Any], body: bytes, send: Send) -> None:
        loop = asyncio.get_running_loop()
        environ = build_environ(scope, body)
        answer = Answer()
        try:
            pieces = await self.threads.run(loop, self._run, environ, answer, loop, send)
        except Exception as error:  # the app crashed: 500 in the API's error shape, as on the plain path
            logger.error("Exception in the REST app", exc_info=error)
            await send({"type": "http.response.start", "status": 500, "headers": INTERNAL_ERROR_HEADERS})
            await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
            return
        if pieces is not None:  # else the thread has streamed the whole answer itself
            body = b"".join(pieces)
            if not answer_at_once(send, answer.status, answer.headers, body):
                await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
                await send({"type": "http.response.body", "body": body})

    def serve_plain(
        self, loop: asyncio.AbstractEventLoop, environ: dict[str, Any], send: Send, reply: PlainReply
    ) -> None:
        """For the plain request path (baas/http_protocol.py): run the app on `environ`, whose
        body is in `wsgi.input` already, in a REST thread; then, on the loop, `reply(answer,
        pieces, error)`. `pieces` is the answer's body, or None when a large answer was streamed
        through `send` from the thread."""
        answer = Answer()
        self.threads.call(loop, self._run, (environ, answer, loop, send), partial(reply, answer))

    def _run(
        self, environ: dict[str, Any], answer: Answer, loop: asyncio.AbstractEventLoop, send: Send
    ) -> list[bytes] | None:
        """In a REST thread: the answer's body, or None once a large answer has been streamed."""
        result = self.app(environ, answer.start_response)
        try:
            pieces: list[bytes] = []
            size = 0
            iterator = iter(result)
            for piece in iterator:
                if not piece:
                    continue
                pieces.append(piece)
                size += len(piece)
                if size > BUFFERED_ANSWER_BYTES:
                    self._stream(answer, pieces, iterator, loop, send)
                    return None
            return pieces
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _stream(
        answer: Answer, pieces: list[bytes], iterator: Any, loop: asyncio.AbstractEventLoop, send: Send
    ) -> None:
        """Send a large answer from this thread, waiting for the loop to have sent each piece."""

        def call(message: Message) -> None:
            asyncio.run_coroutine_threadsafe(_sent(send, message), loop).result()

        call({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        call({"type": "http.response.body", "body": b"".join(pieces), "more_body": True})
        for piece in iterator:
            if piece:
                call({"type": "http.response.body", "body": piece, "more_body": True})
        call({"type": "http.response.body", "body": b""})


async def _sent(send: Send, message: Message) -> None:
    await send(message)


def build_environ(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope whose body is `body` (as a2wsgi builds it)."""
    script_name = scope.get("root_path", "").encode("utf-8").decode("latin-1")
    path_info = scope["path"].encode("utf-8").decode("latin-1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name) :]
    server = scope.get("server") or ("localhost", 80)
    meta: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        # The body is whole: a chunked one ends where the buffer ends (storage.streams reads this).
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client is not None:
        meta["REMOTE_ADDR"] = client[0]
        meta["REMOTE_PORT"] = str(client[1])
    add_headers(meta, scope["headers"])
    return meta
