"""baas.ratelimit on Redis: all of a request's limits in one server-side step (a script), with the
counts, lifetimes, sliding weights, Retry-After and "a refused hit stops the count" of the cache
path — checked against the Redis server's own keys and against the same hits on LocMem."""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any

import pytest
import redis
from django.core.cache import caches

from baas import ratelimit
from baas.errors import RateLimited

REDIS, LOCMEM = "ratelimit-redis", "ratelimit-locmem"


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    now = [60.0 * 50_000]  # at the start of a minute (and of every window below that divides it)
    monkeypatch.setattr(ratelimit, "_now", lambda: now[0])
    return now


@pytest.fixture
def stores(settings: Any, redis_url: str) -> redis.Redis:
    """A Redis cache (of its own key prefix) and a LocMem cache beside the default one; the raw
    Redis client, to read the keys as the server holds them."""
    prefix = f"test-rl-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        REDIS: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url, "KEY_PREFIX": prefix},
        LOCMEM: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix},
    }
    client = redis.Redis.from_url(redis_url)
    yield client
    client.delete(*client.keys(f"{prefix}:*") or [f"{prefix}:none"])
    client.close()


def stored(client: redis.Redis, key: str, window: int, bucket: int) -> tuple[int | None, int]:
    """A counter's value and remaining lifetime (seconds; -2 when absent) on the Redis server."""
    name = caches[REDIS].make_key(f"rl:{key}:{window}:{bucket}")
    value = client.get(name)
    return (None if value is None else int(value)), client.ttl(name)


def hit(limits: list[tuple[str, ratelimit.Rate]], alias: str = REDIS) -> int | None:
    """None when the hits are taken, else the Retry-After of the refusal."""
    try:
        ratelimit.hit_all(limits, alias=alias)
    except RateLimited as refused:
        return int(refused.headers["Retry-After"])
    return None


def test_each_limit_counts_once_and_a_counter_gets_its_lifetime_when_created(clock, stores):
    rate = ratelimit.Rate(100, 60)
    bucket = int(clock[0] // 60)
    assert hit([("ip", rate), ("account", rate)]) is None
    assert stored(stores, "ip", 60, bucket) == (1, 121) and stored(stores, "account", 60, bucket) == (1, 121)
    stores.expire(caches[REDIS].make_key(f"rl:ip:60:{bucket}"), 7)
    assert hit([("ip", rate), ("account", rate)]) is None
    assert stored(stores, "ip", 60, bucket) == (2, 7)  # a later hit does not extend the lifetime
    assert stored(stores, "account", 60, bucket)[0] == 2
    assert ratelimit.count("ip", window=60, alias=REDIS) == 3  # the cache API reads the same counter


def test_a_refused_hit_is_taken_back_and_the_limits_after_it_are_not_counted(clock, stores):
    address, account = ratelimit.Rate(3, 60), ratelimit.Rate(2, 60)
    bucket = int(clock[0] // 60)
    clock[0] += 10
    for _ in range(2):
        assert hit([("ip", address), ("acct", account)]) is None
    # The account is full: the address counted, the account not; its window ends in 50 s, and its
    # 2 hits still weigh 2 * (1 - t/60) after it, ≤ 1 from t = 30 s on: 80 s.
    assert hit([("ip", address), ("acct", account)]) == 80
    assert stored(stores, "ip", 60, bucket)[0] == 3 and stored(stores, "acct", 60, bucket)[0] == 2
    # The address is full (3 hits: ≤ 2 from t = 20 s into the next window, 70 s): nothing after it
    # is counted.
    assert hit([("ip", address), ("acct", account)]) == 70
    assert stored(stores, "ip", 60, bucket)[0] == 3 and stored(stores, "acct", 60, bucket)[0] == 2
    assert hit([("other-ip", address), ("acct", account)]) == 80
    assert stored(stores, "other-ip", 60, bucket)[0] == 1 and stored(stores, "acct", 60, bucket)[0] == 2


def test_the_previous_window_weighs_by_its_overlap(clock, stores):
    rate = ratelimit.Rate(2, 60)
    for _ in range(2):
        assert hit([("k", rate)]) is None
    clock[0] += 60 + 45  # a quarter of the last window still overlaps: 2 * 0.25 + 1 = 1.5 ≤ 2
    assert hit([("k", rate)]) is None
    # 2 * 0.25 + 2 = 2.5 > 2: one more hit fits once 2 * (1 - t/60) ≤ 0, at the window's end, 15 s on
    assert hit([("k", rate)]) == 15
    clock[0] += 15
    assert hit([("k", rate)]) is None


def test_a_weight_is_compared_to_the_bit(clock, stores):
    """9 hits, then 20 s into the next window: 9 * (1 - 20/60) + 1 is 7 exactly, but 7.000000000000001
    in doubles, which Python compares: over a limit of 7 — as on the cache path. And 3 hits weigh
    3 * (1 - 20/60) = 2.0 exactly in doubles: a third hit fits a limit of 3."""
    for _ in range(9):
        assert hit([("w", ratelimit.Rate(9, 60))]) is None
    for _ in range(3):
        assert hit([("v", ratelimit.Rate(3, 60))]) is None
    clock[0] += 60 + 20
    assert 3 * (1.0 - 20 / 60) + 1 == 3
    assert hit([("v", ratelimit.Rate(3, 60))]) is None
    assert 9 * (1.0 - 20 / 60) + 1 > 7
    assert hit([("w", ratelimit.Rate(7, 60))]) is not None
    assert stored(stores, "w", 60, int(clock[0] // 60))[0] == 0
    assert hit([("w", ratelimit.Rate(8, 60))]) is None


def test_the_script_is_sent_again_when_the_server_does_not_know_it(clock, stores, monkeypatch):
    unknown = hashlib.sha1(f"-- never loaded {uuid.uuid4()}".encode()).hexdigest()
    monkeypatch.setattr(ratelimit, "_HIT_ALL_SHA", unknown)
    rate = ratelimit.Rate(1, 60)
    assert hit([("s", rate)]) is None
    assert hit([("s", rate)]) == 120
    assert stored(stores, "s", 60, int(clock[0] // 60))[0] == 1


def test_redis_answers_every_hit_as_the_cache_path_does(clock, stores):
    """The same few hundred hits, at odd moments over a few windows, on Redis (the script) and on
    LocMem (add/incr): the same refusals with the same Retry-After, the same counts left."""
    rates = {"ip": ratelimit.Rate(5, 10), "account": ratelimit.Rate(3, 6), "global": ratelimit.Rate(8, 30)}
    moments = random.Random(18)
    answers: dict[str, list[int | None]] = {REDIS: [], LOCMEM: []}
    start = clock[0]
    for _ in range(300):
        clock[0] += moments.choice((0.0, 0.0, 0.25, 1 / 3, 0.7, 1.5, 2.9))
        names = moments.sample(sorted(rates), moments.randint(1, 3))
        for alias in (REDIS, LOCMEM):
            answers[alias].append(hit([(name, rates[name]) for name in names], alias))
    assert answers[REDIS] == answers[LOCMEM]
    assert 50 < answers[REDIS].count(None) < 250  # both taken and refused hits were compared
    assert len({answer for answer in answers[REDIS] if answer is not None}) > 3
    for name, rate in rates.items():
        for bucket in range(int(start // rate.window), int(clock[0] // rate.window) + 1):
            key = f"rl:{name}:{rate.window}:{bucket}"
            assert caches[REDIS].get(key) == caches[LOCMEM].get(key)


def reversed_key(key: str, key_prefix: str, version: int) -> str:
    return f"{version}|{key_prefix}|{key}"


def test_a_cache_that_names_its_keys_otherwise_counts_under_those_names(clock, settings, stores):
    settings.CACHES = {
        **settings.CACHES,
        REDIS: {**settings.CACHES[REDIS], "KEY_FUNCTION": "tests.auth.test_ratelimit_redis.reversed_key"},
    }
    rate = ratelimit.Rate(1, 60)
    assert hit([("named", rate)]) is None
    assert hit([("named", rate)]) is not None
    name = f"1|{settings.CACHES[REDIS]['KEY_PREFIX']}|rl:named:60:{int(clock[0] // 60)}"
    assert int(stores.get(name)) == 1 and stores.ttl(name) == 121
    stores.delete(name)
