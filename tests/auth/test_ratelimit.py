"""baas.ratelimit: the rate syntax (shared with the settings), fixed and sliding windows and the
penalty box, on the configured cache."""

from __future__ import annotations

import pytest

from baas import ratelimit
from baas.config import ConfigError, env_rate
from baas.errors import RateLimited


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit, "_now", lambda: now[0])
    return now


def test_rates_parse_from_text():
    assert ratelimit.Rate.parse("10/60") == ratelimit.Rate(10, 60)
    assert ratelimit.Rate.parse("5/h") == ratelimit.Rate(5, 3600)
    for bad in ("ten/m", "0/m", "5/week", "5"):
        with pytest.raises(ValueError):
            ratelimit.Rate.parse(bad)


def test_fixed_window_allows_the_limit_then_refuses_until_the_window_ends(clock):
    rate = ratelimit.Rate(3, 60)
    for _ in range(3):
        ratelimit.hit("k", rate, sliding=False)
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit("k", rate, sliding=False)
    assert refused.value.headers["Retry-After"] == str(60 - int(clock[0] % 60))
    clock[0] += 60 - clock[0] % 60
    ratelimit.hit("k", rate, sliding=False)


def test_sliding_window_weighs_the_previous_window(clock):
    rate = ratelimit.Rate(4, 60)
    clock[0] = 60 * 20000  # at a window start
    for _ in range(4):
        ratelimit.hit("s", rate)
    clock[0] += 60 + 15  # a quarter into the next window: 4 * 0.75 = 3 still count
    ratelimit.hit("s", rate)
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit("s", rate)
    assert int(refused.value.headers["Retry-After"]) >= 1
    clock[0] += int(refused.value.headers["Retry-After"])
    ratelimit.hit("s", rate)


def test_refused_hits_are_not_counted(clock):
    rate = ratelimit.Rate(1, 60)
    clock[0] = 60 * 30000
    ratelimit.hit("r", rate, sliding=False)
    for _ in range(5):
        with pytest.raises(RateLimited):
            ratelimit.hit("r", rate, sliding=False)
    assert ratelimit.count("r", window=60) == 2  # 1 kept + this count


def test_keys_are_independent(clock):
    rate = ratelimit.Rate(1, 60)
    ratelimit.hit("a", rate)
    ratelimit.hit("b", rate)


def test_the_penalty_box_expires_and_is_not_extended(clock):
    ratelimit.block("x", seconds=30)
    assert ratelimit.blocked_for("x", "y") == 30
    clock[0] += 10
    ratelimit.block("x", seconds=30)
    assert ratelimit.blocked_for("x") == 20
    ratelimit.unblock("x")
    assert ratelimit.blocked_for("x") == 0


def test_a_rate_setting_parses_the_same_way_and_a_bad_one_names_its_variable(monkeypatch):
    monkeypatch.setenv("AUTH_RATE_TEST", "7/h")
    assert env_rate("AUTH_RATE_TEST", "1/s") == (7, 3600)
    assert env_rate("AUTH_RATE_UNSET_FOR_THIS_TEST", "20/m") == (20, 60)
    for bad in ("ten/m", "0/m", "5/week", "5"):
        monkeypatch.setenv("AUTH_RATE_TEST", bad)
        with pytest.raises(ConfigError, match=r"^AUTH_RATE_TEST: ") as refused:
            env_rate("AUTH_RATE_TEST", "1/s")
        with pytest.raises(ValueError) as parsed:
            ratelimit.Rate.parse(bad)
        assert str(refused.value) == f"AUTH_RATE_TEST: {parsed.value}"


def test_several_limits_at_once_count_as_each_hit_would_in_order(clock):
    """`hit_all` (the auth limits: address, then account) answers as `hit` on each in turn."""
    address, account = ratelimit.Rate(3, 60), ratelimit.Rate(2, 60)
    clock[0] = 60 * 40000
    for _ in range(2):
        ratelimit.hit_all([("ip", address), ("acct", account)])
    with pytest.raises(RateLimited):  # the account is full: the address counted, the account not
        ratelimit.hit_all([("ip", address), ("acct", account)])
    assert ratelimit.count("ip", window=60) == 4 and ratelimit.count("acct", window=60) == 3
    with pytest.raises(RateLimited):  # the address is full: the account is not counted at all
        ratelimit.hit_all([("ip", address), ("acct", account)])
    assert ratelimit.count("acct", window=60) == 4
    clock[0] += 60 + 45  # three quarters into the next window: a quarter of the last one counts
    ratelimit.hit_all([("fresh-ip", address), ("acct", account)])  # 4 * 0.25 + 1 = 2 ≤ 2
    with pytest.raises(RateLimited) as refused:
        ratelimit.hit_all([("fresh-ip", address), ("acct", account)])
    assert int(refused.value.headers["Retry-After"]) >= 1
