"""ASGI entry point: websockets to Channels, HTTP to the WSGI app in a thread pool.

REST stays on Django's WSGI handler (measured several times faster than its ASGI handler, see
docs/serving.md); one ASGI server still gives clients a single port for both.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

from a2wsgi import WSGIMiddleware
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.wsgi import get_wsgi_application

from baas.config import env_int

wsgi_app = get_wsgi_application()

from realtime.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

_router = ProtocolTypeRouter(
    {
        "http": WSGIMiddleware(wsgi_app, workers=env_int("BAAS_HTTP_THREADS", 16, minimum=1)),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await _router(scope, receive, send)


async def _lifespan(receive, send) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
