"""Small cache-based rate limiting: counters per key in the default cache.

Works on any Django cache with atomic `add`/`incr` (LocMem in dev, Redis in production, where
every web process shares the counters); on Django's RedisCache, `hit_all` (a request's sliding
limits) is one script, one round trip, on the same keys. Two shapes:

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
import hashlib
import math
import struct
import time
import weakref
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import default_key_func
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import NoScriptError

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
    if sliding:
        hit_all([(key, rate)], alias=alias)
        return
    now = _now()
    window = rate.window
    bucket = int(now // window)
    current_key = f"{_PREFIX}:{key}:{window}:{bucket}"
    if _incr(current_key, window + 1, alias) <= rate.limit:
        return
    _undo(current_key, alias)
    raise RateLimited(retry_after=math.ceil(window - (now - bucket * window)))


def hit_all(limits: list[tuple[str, Rate]], *, alias: str = "default") -> None:
    """`hit(key, rate)` for each (sliding window) limit in order, stopping at the first that
    raises RateLimited (later ones are not counted). On Redis, one round trip for all of them (a
    script: `_HIT_ALL_SCRIPT`); on other caches, one `get_many` for the previous windows' counts
    and one `incr` (or `add` + `incr`) per limit."""
    now = _now()
    # Per limit: its current and previous windows' keys, and the previous window's weight now.
    windows = []
    for key, rate in limits:
        window = rate.window
        bucket = int(now // window)
        elapsed = now - bucket * window
        windows.append((rate, f"{_PREFIX}:{key}:{window}:{bucket}", f"{_PREFIX}:{key}:{window}:{bucket - 1}", elapsed))
    # (The cache looked up once: each `caches[alias]` goes through the thread's asgiref Local.)
    cache = _cache(alias)
    refused = _redis_hit_all(cache, windows) if isinstance(cache, RedisCache) else _cache_hit_all(cache, alias, windows)
    if refused is not None:
        rate, elapsed, previous, current = refused
        raise RateLimited(retry_after=_sliding_retry_after(rate, previous, current - 1, elapsed))


# (rate, current window's key, previous window's key, seconds into the current window)
_Window = tuple[Rate, str, str, float]
# The first limit over: (its rate, seconds into its window, previous and current counts with this hit)
_Refusal = tuple[Rate, float, int, int] | None


def _weight(window: _Window) -> float:
    """How much of the previous window still overlaps the last `window` seconds."""
    return 1.0 - window[3] / window[0].window


def _cache_hit_all(cache: Any, alias: str, windows: list[_Window]) -> _Refusal:
    """hit_all through the cache API (LocMem and any other cache with atomic add/incr)."""
    previous_counts = cache.get_many([previous_key for _, _, previous_key, _ in windows])
    for window in windows:
        rate, current_key, previous_key, elapsed = window
        current = _incr(current_key, 2 * rate.window + 1, alias, cache)
        previous = int(previous_counts.get(previous_key) or 0)
        if previous * _weight(window) + current <= rate.limit:
            continue
        _undo(current_key, alias)
        return rate, elapsed, previous, current
    return None


# What `_cache_hit_all` does, in one atomic step on the Redis server. KEYS: per limit, the current
# window's key and the previous one's (as the cache names them: prefix and version added). ARGV: per
# limit, its limit, the previous window's weight (the double's 8 bytes, little-endian: Lua's numbers
# are doubles too, so the comparison is Python's to the bit) and the current key's lifetime in seconds. A counter's
# lifetime is set when the hit creates it (Django's `add` before `incr`), never extended: a key
# without one (TTL -1) is the one INCR has just made. Answers {0} when every limit took the hit, or
# {position (1-based), previous count, current count with the hit} of the first that refused it,
# whose hit is taken back (DECR) and after which nothing is counted. Counts are stored as Django's
# RedisCache stores ints (plain integers), so `count`, `reset` and the cache API read the same keys.
_HIT_ALL_SCRIPT = """
for i = 1, #KEYS / 2 do
  local current_key, previous_key = KEYS[2 * i - 1], KEYS[2 * i]
  local current = redis.call('INCR', current_key)
  if current == 1 and redis.call('TTL', current_key) == -1 then
    redis.call('EXPIRE', current_key, ARGV[3 * i])
  end
  local previous = tonumber(redis.call('GET', previous_key)) or 0
  if previous * struct.unpack('<d', ARGV[3 * i - 1]) + current > tonumber(ARGV[3 * i - 2]) then
    redis.call('DECR', current_key)
    return {i, previous, current}
  end
end
return {0}
"""
_HIT_ALL_SHA = hashlib.sha1(_HIT_ALL_SCRIPT.encode()).hexdigest()
_DOUBLE = struct.Struct("<d")
# Per RedisCache object (a cache object is per thread): one redis client, and what `make_key` puts
# before a key when the cache names keys as Django does by default (else None: `make_key` each).
# Django's RedisCache makes a new `redis.Redis` for every call, and building one (its
# response-callback table) cost more than the round trip it makes; the client kept is the one
# `get_client(write=True)` builds, on the same pool.
_redis_clients: weakref.WeakKeyDictionary[RedisCache, tuple[Any, str | None]] = weakref.WeakKeyDictionary()


def _redis_client(cache: RedisCache) -> tuple[Any, str | None]:
    found = _redis_clients.get(cache)
    if found is None:
        prefix = f"{cache.key_prefix}:{cache.version}:" if cache.key_func is default_key_func else None
        found = _redis_clients[cache] = (cache._cache.get_client(write=True), prefix)
    return found


def _redis_hit_all(cache: RedisCache, windows: list[_Window]) -> _Refusal:
    """hit_all on Redis: the script, in one round trip (EVALSHA; EVAL when the server has not
    seen the script yet, e.g. after a restart or SCRIPT FLUSH)."""
    client, prefix = _redis_client(cache)
    keys: list[str] = []
    args: list[int | bytes] = []
    for window in windows:
        rate, current_key, previous_key, _ = window
        if prefix is None:
            keys += (cache.make_key(current_key), cache.make_key(previous_key))
        else:
            keys += (prefix + current_key, prefix + previous_key)
        args += (rate.limit, _DOUBLE.pack(_weight(window)), 2 * rate.window + 1)
    try:
        answer = client.evalsha(_HIT_ALL_SHA, len(keys), *keys, *args)
    except NoScriptError:
        answer = client.eval(_HIT_ALL_SCRIPT, len(keys), *keys, *args)
    position = int(answer[0])
    if not position:
        return None
    rate, _, _, elapsed = windows[position - 1]
    return rate, elapsed, int(answer[1]), int(answer[2])


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
