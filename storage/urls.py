"""REST routes of object storage (`/v1/storage/…`); filled in by the storage service."""

from __future__ import annotations

urlpatterns: list = []
