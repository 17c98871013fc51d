"""ASGI entry point: websockets to Channels, HTTP to the WSGI app in a thread pool.

REST stays on Django's WSGI handler (measured several times faster than its ASGI handler, see
docs/serving.md); one ASGI server still gives clients a single port for both. A synchronous
function invoke runs its REST part there too, but waits for the result here, asynchronously, so a
slow function never holds a REST thread (functions/api/awaiting.py).
"""

from __future__ import annotations

import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

from a2wsgi import WSGIMiddleware
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.wsgi import get_wsgi_application

from baas.config import env_int

wsgi_app = get_wsgi_application()

from functions.api import awaiting  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

_rest = WSGIMiddleware(wsgi_app, workers=env_int("BAAS_HTTP_THREADS", 16, minimum=1))


async def _http(scope, receive, send):  # type: ignore[no-untyped-def]
    # A synchronous function invoke waits here, async, not in a REST thread (functions/api/awaiting.py).
    if awaiting.applies(scope):
        await awaiting.serve(_rest, scope, receive, send)
    else:
        await _rest(scope, receive, send)


_router = ProtocolTypeRouter({"http": _http, "websocket": URLRouter(websocket_urlpatterns)})


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await _router(scope, receive, send)


async def _lifespan(receive, send) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
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
        from functions.sandbox import isolation, zygote

        # A deploy loads its function in a sandbox in this process: have a pre-started one ready.
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
