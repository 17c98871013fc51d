"""The websocket checks `Origin` against CORS_ALLOWED_ORIGINS, over a real `baas serve` (dev default:
loopback origins allowed); a handshake without Origin (native apps, servers) is allowed."""

from __future__ import annotations

import pytest
import websockets

from tests.realtime.conftest import run


async def _handshake(server, origin: str | None) -> int:  # type: ignore[no-untyped-def]
    """101 when the websocket opened (and answered a ping), else the HTTP status of the refusal."""
    url = f"{server.ws}?token={server.key}"
    try:
        async with websockets.connect(url, origin=origin) as socket:  # type: ignore[arg-type]
            await (await socket.ping())
            return 101
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8080", None])
def test_an_allowed_origin_or_none_connects(server, origin):
    assert run(_handshake(server, origin)) == 101


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example", "null"])
def test_a_foreign_browser_origin_is_refused_before_the_handshake_completes(server, origin):
    assert run(_handshake(server, origin)) == 403
