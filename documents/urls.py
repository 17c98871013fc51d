"""REST routes of the document database (`/v1/db/…`); filled in by the documents service."""

from __future__ import annotations

urlpatterns: list = []
