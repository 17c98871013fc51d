"""Small cache-based rate limiting: counters per key in the default cache.

Works on any Django cache with atomic `add`/`incr` (LocMem in dev, Redis in production, where
every web process shares the counters). Two shapes:

- fixed window: at most `limit` hits per aligned window of `window` seconds. Cheap and exact, but
  a client may spend two windows' worth around a window boundary;
- sliding window (the default): the previous window's count, weighted by how much of it still
  overlaps the last `window` seconds, plus the current count — the "sliding window counter"
  approximation; it smooths the boundary burst with two keys per limit.

A hit that is refused is not counted, so a client that backs off as told by `Retry-After` gets
through. Besides limits, `block`/`blocked_for` keep a key in a "penalty box" for a while (used
for login lockouts).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches

from baas.config import parse_rate
from baas.errors import RateLimited

_PREFIX = "rl"


@dataclass(frozen=True)
class Rate:
    """`limit` hits per `window` seconds."""

    limit: int
    window: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"10/60"` → 10 per 60 seconds; also `"10/m"`, `"10/h"`, `"10/d"`, `"10/s"` (`parse_rate`)."""
        limit, window = parse_rate(text)
        return cls(limit=limit, window=window)


def _now() -> float:
    return time.time()


def _cache(alias: str = "default"):  # type: ignore[no-untyped-def]
    return caches[alias]


def _incr(key: str, timeout: int, alias: str, cache: Any = None) -> int:
    if cache is None:
        cache = _cache(alias)
    try:  # the key exists for all but the first hit of a window: one call instead of two
        return int(cache.incr(key))
    except ValueError:
        pass
    for _ in range(3):
        cache.add(key, 0, timeout=timeout)
        try:
            return int(cache.incr(key))
        except ValueError:  # expired between add and incr: add again
            continue
    return 1


def count(key: str, *, window: int, alias: str = "default") -> int:
    """Count one event in the current fixed window of `key` and return the window's total."""
    bucket = int(_now() // window)
    return _incr(f"{_PREFIX}:{key}:{window}:{bucket}", window + 1, alias)


def hit(key: str, rate: Rate, *, sliding: bool = True, alias: str = "default") -> None:
    """Count one hit on `key`, or raise `RateLimited(retry_after=…)` when `rate` is exceeded."""
    now = _now()
    window = rate.window
    bucket = int(now // window)
    elapsed = now - bucket * window
    current_key = f"{_PREFIX}:{key}:{window}:{bucket}"
    cache = _cache(alias)
    current = _incr(current_key, 2 * window + 1 if sliding else window + 1, alias)
    if not sliding:
        if current <= rate.limit:
            return
        _undo(current_key, alias)
        raise RateLimited(retry_after=math.ceil(window - elapsed))
    previous = int(cache.get(f"{_PREFIX}:{key}:{window}:{bucket - 1}") or 0)
    weight = 1.0 - elapsed / window
    if previous * weight + current <= rate.limit:
        return
    _undo(current_key, alias)
    raise RateLimited(retry_after=_sliding_retry_after(rate, previous, current - 1, elapsed))


def hit_all(limits: list[tuple[str, Rate]], *, alias: str = "default") -> None:
    """`hit(key, rate)` for each (sliding window) limit in order, stopping at the first that
    raises RateLimited (later ones are not counted), with one cache call for all the previous
    windows' counts."""
    now = _now()
    windows = [(key, rate, int(now // rate.window)) for key, rate in limits]
    previous_keys = [f"{_PREFIX}:{key}:{rate.window}:{bucket - 1}" for key, rate, bucket in windows]
    # (The cache looked up once: each `caches[alias]` goes through the thread's asgiref Local.)
    cache = _cache(alias)
    previous_counts = cache.get_many(previous_keys)
    for (key, rate, bucket), previous_key in zip(windows, previous_keys, strict=True):
        window = rate.window
        elapsed = now - bucket * window
        current_key = f"{_PREFIX}:{key}:{window}:{bucket}"
        current = _incr(current_key, 2 * window + 1, alias, cache)
        previous = int(previous_counts.get(previous_key) or 0)
        if previous * (1.0 - elapsed / window) + current <= rate.limit:
            continue
        _undo(current_key, alias)
        raise RateLimited(retry_after=_sliding_retry_after(rate, previous, current - 1, elapsed))


def _sliding_retry_after(rate: Rate, previous: int, current: int, elapsed: float) -> int:
    """Seconds until one more hit fits, assuming no other hits arrive meanwhile."""
    window = rate.window
    room = rate.limit - 1 - current  # what the previous window's weighted share may still be
    if room >= 0 and previous > 0:
        # previous * (1 - t / window) <= room  →  t >= window * (1 - room / previous)
        needed = window * (1 - room / previous)
        return max(1, math.ceil(needed - elapsed))
    # The current window alone is full: wait for it to end and for its weight to fall enough.
    if current <= 0:
        return max(1, math.ceil(window - elapsed))
    after_end = window * (1 - (rate.limit - 1) / current) if current > rate.limit - 1 else 0
    return max(1, math.ceil(window - elapsed + after_end))


def _undo(key: str, alias: str) -> None:
    with contextlib.suppress(ValueError):
        _cache(alias).decr(key)


def reset(key: str, *, window: int, alias: str = "default") -> None:
    """Forget the counts of `key` for `window` (the current and the previous window)."""
    bucket = int(_now() // window)
    _cache(alias).delete_many([f"{_PREFIX}:{key}:{window}:{b}" for b in (bucket, bucket - 1)])


def block(key: str, *, seconds: int, alias: str = "default") -> None:
    """Put `key` in the penalty box for `seconds` (not extended if it is there already)."""
    _cache(alias).add(f"{_PREFIX}:block:{key}", _now() + seconds, timeout=seconds)


def blocked_for(*keys: str, alias: str = "default") -> int:
    """Seconds left on the longest block among `keys`; 0 when none is blocked."""
    found = _cache(alias).get_many([f"{_PREFIX}:block:{key}" for key in keys])
    if not found:
        return 0
    remaining = max(float(until) for until in found.values()) - _now()
    return max(1, math.ceil(remaining)) if remaining > 0 else 0


def unblock(*keys: str, alias: str = "default") -> None:
    _cache(alias).delete_many([f"{_PREFIX}:block:{key}" for key in keys])
