from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from .errors import fail

Json = Any
JsonObject = dict[str, Any]


def backoff(attempt: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff, seconds: random in [0, min(cap, base * 2**attempt)]."""
    return float(random.random() * min(cap, base * 2**attempt))


def enc(segment: str) -> str:
    return quote(segment, safe="")


def encode_path(path: str) -> str:
    """Each segment percent-encoded; `.` and `..` refused (URL parsing would resolve them)."""
    out = []
    for s in path.split("/"):
        if s in (".", ".."):
            raise fail("invalid_path", 'Object paths cannot have "." or ".." segments.', {"reason": "dot_segment"})
        out.append(enc(s))
    return "/".join(out)
