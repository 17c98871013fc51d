"""Which web origins may use the API: one decision for HTTP (django-cors-headers) and the websocket.

The HTTP side is django-cors-headers' middleware, configured by the CORS_* settings. The websocket
asks `origin_allowed`, which puts the same question to the same library object, so the two sides
can never disagree about an origin.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from corsheaders import middleware as corsheaders
from corsheaders.conf import conf
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

logger = logging.getLogger("baas")


class CorsMiddleware(corsheaders.CorsMiddleware):
    """django-cors-headers' middleware, skipping its work for requests without `Origin`.

    The library reads `request.headers`, whose first use parses every META key (~12 µs under
    granian, docs/serving.md); most API calls come from apps and servers without `Origin`, and for
    them only `Vary: Origin` is needed.
    """

    def add_response_headers(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if "HTTP_ORIGIN" not in request.META:
            if getattr(request, "_cors_enabled", False):
                patch_vary_headers(response, ("origin",))
            return response
        return super().add_response_headers(request, response)


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
