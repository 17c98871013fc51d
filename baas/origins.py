"""Which web origins may use the API: one decision for HTTP (django-cors-headers) and the websocket.

The HTTP side is django-cors-headers' middleware, configured by the CORS_* settings. The websocket
asks `origin_allowed`, which puts the same question to the same library object, so the two sides
can never disagree about an origin.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from corsheaders.conf import conf
from corsheaders.middleware import CorsMiddleware

logger = logging.getLogger("baas")

_decider = CorsMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]


def origin_allowed(origin: str) -> bool:
    """Whether a browser page from `origin` may call the API (and open the websocket)."""
    if conf.CORS_ALLOW_ALL_ORIGINS:
        return True
    try:
        url = urlsplit(origin)
    except ValueError:
        return False
    return _decider.origin_found_in_white_lists(origin, url)


def _origin_of(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"origin":
            return value.decode("latin-1")
    return None


class WebsocketOriginCheck:
    """ASGI wrapper: refuses a websocket handshake from a browser origin that is not allowed.

    A handshake without `Origin` (native apps, servers) passes: only browsers send it, and only
    browsers need protecting from pages of other sites using their users' credentials.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            origin = _origin_of(scope)
            if origin is not None and not origin_allowed(origin):
                logger.info("websocket refused: origin %r is not in CORS_ALLOWED_ORIGINS", origin)
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
                return
        await self.application(scope, receive, send)
