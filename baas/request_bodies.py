"""Request bodies are read in the async layer, so a slow client never holds a REST thread.

REST runs on Django's WSGI handler in a pool of threads (baas/asgi.py); a thread that reads a body
waits for the client. So before a request gets a thread:

- a body of at most BAAS_BODY_BUFFER_BYTES (and a chunked body, up to that size) is read whole
  here, asynchronously, then handed to the REST pool from memory;
- a larger body (an upload) goes to a small pool of its own (BAAS_BODY_STREAM_THREADS), streamed:
  the view can still refuse it from the URL and headers before reading a byte (404/401/403/413),
  and slow uploads can only ever occupy that pool, never the REST one;
- a body larger than BAAS_MAX_BODY_BYTES on a path with that limit is refused (413) unread.

Both ways the client must keep a pace, as nginx's client_body_timeout and Apache's
mod_reqtimeout (`body=10,MinRate=1024`) ask: a gap of BAAS_BODY_IDLE_TIMEOUT seconds with no data,
or an average below BAAS_BODY_MIN_RATE bytes/s once BAAS_BODY_TIMEOUT seconds have passed, ends
the request with 408 `request_timeout` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from baas.config import env_int

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NO_BODY, BUFFER, STREAM, TOO_LARGE = "none", "buffer", "stream", "too_large"


class BodyTimedOut(OSError):
    """The client sent its body too slowly. An OSError, so Django reads it as an unreadable body."""


class ClientGone(OSError):
    """The client went away before its body was complete."""


@dataclass(frozen=True)
class BodyLimits:
    buffer_bytes: int
    max_body_bytes: int
    exempt_prefixes: tuple[str, ...]
    grace_seconds: float
    min_rate: int
    idle_seconds: float

    @classmethod
    def from_settings(cls) -> BodyLimits:
        from django.conf import settings

        return cls(
            buffer_bytes=env_int("BAAS_BODY_BUFFER_BYTES", 1024 * 1024, minimum=1024),
            max_body_bytes=settings.BAAS_MAX_BODY_BYTES,
            exempt_prefixes=tuple(settings.BAAS_BODY_LIMIT_EXEMPT_PREFIXES),
            grace_seconds=env_int("BAAS_BODY_TIMEOUT", 10, minimum=1),
            min_rate=env_int("BAAS_BODY_MIN_RATE", 1024, minimum=1),
            idle_seconds=env_int("BAAS_BODY_IDLE_TIMEOUT", 10, minimum=1),
        )


def kind_of(scope: dict[str, Any], limits: BodyLimits) -> str:
    """How this request's body is to be read, from its headers alone."""
    length: str | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value.decode("latin-1")
        elif name == b"transfer-encoding":
            chunked = True
    if chunked:
        return BUFFER  # up to buffer_bytes; beyond, it goes on as a stream
    if length is None or not length.strip().isdigit() or int(length) == 0:
        return NO_BODY  # (the HTTP parser refuses a malformed Content-Length before we see it)
    declared = int(length)
    if declared > limits.max_body_bytes and not scope["path"].startswith(limits.exempt_prefixes):
        return TOO_LARGE
    return BUFFER if declared <= limits.buffer_bytes else STREAM


class Pace:
    """The clock a body is read against: an idle limit, and a minimum average rate after a grace
    period. It starts at the first read, so time spent waiting for a thread is not the client's."""

    def __init__(self, limits: BodyLimits, ready: Callable[[], bool] | None = None) -> None:
        self.limits = limits
        # Whether the next message is already there (baas.http_protocol.message_waiting): then it
        # is taken without a clock, as most bodies arrive with their head. asyncio.wait_for wraps
        # the receive in a task of its own and arms a timer: measured as a good part of what a
        # create cost more on the one-port server than under granian (docs/serving.md).
        self.ready = ready
        self.started: float | None = None
        self.received = 0
        self.timed_out = False

    def wait_allowed(self) -> float:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        deadline = self.started + self.limits.grace_seconds + self.received / self.limits.min_rate
        return min(self.limits.idle_seconds, deadline - now)

    async def receive(self, receive: Receive) -> Message:
        """The next body message, or BodyTimedOut / ClientGone."""
        if self.ready is not None and self.ready():
            if self.started is None:
                self.started = time.monotonic()
            message = await receive()  # there already: no waiting
        else:
            allowed = self.wait_allowed()
            try:
                if allowed <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), allowed)
            except TimeoutError:
                self.timed_out = True
                raise BodyTimedOut("The request body arrived too slowly.") from None
        if message["type"] == "http.disconnect":
            raise ClientGone("The client closed the connection before its body was complete.")
        self.received += len(message.get("body", b""))
        return message


async def read_up_to(receive: Receive, pace: Pace, cap: int) -> tuple[bytes, bool]:
    """The body read whole, or its first `cap`-odd bytes; and whether more is to come."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await pace.receive(receive)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > cap:
            return b"".join(chunks), True


def replaying(head: bytes, more: bool, receive: Receive, pace: Pace) -> Receive:
    """A receive that hands out `head` first, then (if `more`) the rest of the body at `pace`."""
    pending: list[Message] = [{"type": "http.request", "body": head, "more_body": more}]

    async def next_message() -> Message:
        if pending:
            return pending.pop()
        if more:
            return await pace.receive(receive)
        return await receive()  # after the body: only http.disconnect is left

    return next_message


def paced(receive: Receive, pace: Pace) -> Receive:
    async def next_message() -> Message:
        return await pace.receive(receive)

    return next_message


def answering_timeouts(send: Send, pace: Pace) -> Send:
    """A send that replaces the app's answer with 408 when the body timed out under it."""
    replaced = False

    async def send_message(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and pace.timed_out:
            replaced = True
            await send_error(send, timeout_error())
            return
        if not replaced:
            await send(message)

    return send_message


def timeout_error() -> Any:
    from baas.errors import RequestTimeout

    return RequestTimeout("The request body arrived too slowly; the connection is closed.")


def too_large_error(limits: BodyLimits) -> Any:
    from baas.errors import TooLarge

    return TooLarge(
        f"The request body is larger than the limit of {limits.max_body_bytes} bytes.",
        details={"limit": limits.max_body_bytes},
    )


async def send_error(send: Send, error: Any) -> None:
    """Answer with an ApiError in the API's error shape and close the connection (what is left of
    the body is not read)."""
    body = json.dumps(error.as_dict()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *[(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()],
    ]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
