"""REST routes of functions (`/v1/functions/…`, `/v1/invocations/…`); filled in by the functions service."""

from __future__ import annotations

urlpatterns: list = []
