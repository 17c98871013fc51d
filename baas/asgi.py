"""ASGI entry point: websockets to Channels, HTTP to the WSGI app in a thread pool.

REST stays on Django's WSGI handler (measured several times faster than its ASGI handler, see
docs/serving.md); one ASGI server still gives clients a single port for both. A synchronous
function invoke runs its REST part there too, but waits for the result here, asynchronously, so a
slow function never holds a REST thread (functions/api/awaiting.py).
"""

from __future__ import annotations

import os
import threading
from typing import Any, cast

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

from a2wsgi import WSGIMiddleware
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.wsgi import get_wsgi_application

from baas import request_bodies
from baas.config import env_int, env_str
from baas.front import LeanFront
from baas.http_protocol import PlainRest, message_waiting
from baas.origins import WebsocketOriginCheck
from baas.supervisor import leave_parent_session
from baas.wsgi_bridge import BufferedWSGI

# The hottest API calls are answered before Django's request handling (baas/front.py).
wsgi_app = LeanFront(get_wsgi_application())

from functions.api import awaiting, logstream  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

_threads = env_int("BAAS_HTTP_THREADS", 16, minimum=1)
# Bodies read whole here: the thin hand-off (baas/wsgi_bridge.py). BAAS_REST_BRIDGE=a2wsgi puts
# back the general adapter (kept for measuring the two against each other, docs/serving.md).
_rest: awaiting.ASGIApp = (
    cast("awaiting.ASGIApp", WSGIMiddleware(cast(Any, wsgi_app), workers=_threads))
    if env_str("BAAS_REST_BRIDGE", "thin") == "a2wsgi"
    else BufferedWSGI(wsgi_app, _threads)
)
# Bodies too large to read here first stream in on threads of their own, so slow uploads can never
# take the REST pool (baas/request_bodies.py).
_stream_threads = env_int("BAAS_BODY_STREAM_THREADS", max(2, _threads // 4), minimum=1)
_streams: awaiting.ASGIApp = cast("awaiting.ASGIApp", WSGIMiddleware(cast(Any, wsgi_app), workers=_stream_threads))
_body_limits = request_bodies.BodyLimits.from_settings()
_FUNCTIONS = "/v1/functions/"


async def _http(scope, receive, send):  # type: ignore[no-untyped-def]
    # No thread waits for a client: the body is read here first, or streamed on the upload pool.
    kind = request_bodies.kind_of(scope, _body_limits)
    app = _rest
    body = b""
    if kind == request_bodies.TOO_LARGE:
        await request_bodies.send_error(send, request_bodies.too_large_error(_body_limits))
        return
    if kind != request_bodies.NO_BODY:
        pace = request_bodies.Pace(_body_limits, message_waiting(receive))
        if kind == request_bodies.BUFFER:
            try:
                body, more = await request_bodies.read_up_to(receive, pace, _body_limits.buffer_bytes)
            except request_bodies.BodyTimedOut:
                await request_bodies.send_error(send, request_bodies.timeout_error())
                return
            except request_bodies.ClientGone:
                return
            receive = request_bodies.replaying(body, more, receive, pace)
            if more:  # a chunked body longer than we buffer: the rest streams
                kind = request_bodies.STREAM
        else:
            receive = request_bodies.paced(receive, pace)
        if kind == request_bodies.STREAM:
            app = _streams
            send = request_bodies.answering_timeouts(send, pace)
    # A synchronous function invoke waits here, async, not in a REST thread (functions/api/awaiting.py).
    # (Both of these paths start with _FUNCTIONS: other requests skip their patterns.)
    if scope["path"].startswith(_FUNCTIONS) and awaiting.applies(scope):
        await awaiting.serve(app, scope, receive, send)
    elif scope["path"].startswith(_FUNCTIONS) and logstream.applies(scope):
        await logstream.serve(app, scope, receive, send)  # a function's live logs (functions/api/logstream.py)
    elif app is _rest and isinstance(_rest, BufferedWSGI):
        await _rest.serve(scope, body, send)  # the body is whole: straight to a REST thread
    else:
        await app(scope, receive, send)


_router = ProtocolTypeRouter({"http": _http, "websocket": WebsocketOriginCheck(URLRouter(websocket_urlpatterns))})


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    kind = scope["type"]
    if kind == "http":  # what the router would pick, one call sooner
        await _http(scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(receive, send)
    else:
        await _router(scope, receive, send)


# Plain REST requests (a body read with the head, at most what _http would buffer and accept;
# not the async function routes above) go from the HTTP protocol straight to the REST threads,
# with no ASGI scope or task (baas/http_protocol.py); all others come through `application`.
# BAAS_PLAIN_REST=off sends every request through `application` (kept for measuring the two).
if isinstance(_rest, BufferedWSGI) and env_str("BAAS_PLAIN_REST", "on") != "off":
    application.plain_rest = PlainRest(  # type: ignore[attr-defined]
        serve=_rest.serve_plain,
        body_bytes=min(_body_limits.buffer_bytes, _body_limits.max_body_bytes),
        async_prefixes=(_FUNCTIONS.encode(),),
    )


async def _lifespan(receive, send) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            leave_parent_session()  # a worker of `baas serve --workers N` (baas/supervisor.py)
            _warm_up_soon()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _warm_up_soon() -> None:
    """Warm what a first request would otherwise pay for, off the startup path."""
    threading.Thread(target=_warm_up, daemon=True, name="warm-up").start()


def _warm_up() -> None:
    import logging

    logger = logging.getLogger("baas")
    try:
        from functions.sandbox import UNAVAILABLE, isolation, state, zygote

        # A deploy loads its function in a sandbox in this process: have a pre-started one ready.
        # Without a working sandbox there is nothing to pre-start (deploys answer 503, and the
        # functions sandbox line at start-up already said why).
        if state() != UNAVAILABLE:
            zygote.prepare(isolation())
    except Exception:  # deploys then start their sandboxes cold
        logger.warning("could not pre-start a sandbox", exc_info=True)
    try:
        from django.urls import get_resolver

        from baas.celery import app

        get_resolver().resolve("/v1/health")  # imports every view module
        app.autodiscover_tasks(force=True)
        app.finalize(auto=True)  # the first message sent paid ~200 ms for this and the next lines
        _ = app.backend, app.amqp.producer_pool
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
            _ = producer.channel
    except Exception:
        logger.info("warm-up of the task queue producer failed; the first request does it", exc_info=True)
