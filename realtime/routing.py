"""Websocket routes (`/v1/realtime`); filled in by the realtime service."""

from __future__ import annotations

websocket_urlpatterns: list = []
