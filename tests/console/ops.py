"""Helpers of the Storage, Functions and Realtime page tests: raw uploads over the API, a tiny
PNG, and what a page cost to load (first paint, bytes)."""

from __future__ import annotations

import struct
import urllib.request
import zlib
from typing import Any

from tests.browser import wait_for_expression
from tests.console.conftest import NARROW, Site

# What one of these pages may load, all in (HTML, CSS, htmx, the page's script): far above what it
# loads now (see the report), low enough that an accidental big asset or inline blob fails.
PAGE_BYTES_BUDGET = 150_000


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG (red pixels), built by hand so the tests need no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def put_object(site: Site, bucket: str, path: str, data: bytes, content_type: str = "text/plain") -> None:
    request = urllib.request.Request(site.url(f"/v1/storage/objects/{bucket}/{path}"), data=data, method="PUT")
    request.add_header("Authorization", f"Bearer {site.server.key}")
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201


def load_figures(page: Any) -> dict[str, float]:
    """First paint (ms after navigation start) and bytes transferred by the page and its assets."""
    wait_for_expression(page, "performance.getEntriesByType('paint').length > 0")
    return page.evaluate(
        """() => {
          const paint = performance.getEntriesByType('paint').find((e) => e.name === 'first-paint');
          const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
          return {first_paint_ms: paint ? Math.round(paint.startTime) : -1,
                  bytes: entries.reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)};
        }"""
    )


def fits_a_phone(page: Any) -> bool:
    """No horizontal scroll of the page itself (wide tables scroll inside .table-wrap)."""
    return page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
