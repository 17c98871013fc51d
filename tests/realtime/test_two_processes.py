"""Scale-out: two server processes on PostgreSQL + Redis each deliver to their own clients."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.platform.processes import platform_env
from tests.realtime.conftest import (
    Client,
    connect,
    prepare,
    run,
    scratch_database_name,
    scratch_redis_url,
    start_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(tmp_path, postgres_url, redis_url):
    name, redis_url = scratch_database_name(), scratch_redis_url(redis_url)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env = platform_env(
        uuid.uuid4().hex,
        BAAS_DATA_DIR=str(tmp_path),
        DATABASE_URL=postgres_url.rsplit("/", 1)[0] + f"/{name}",
        REDIS_URL=redis_url,
        CHANNEL_PREFIX=f"rt{uuid.uuid4().hex[:8]}",
        LOG_LEVEL="WARNING",
        # Tests sign users up; the counters live in the run's shared Redis.
        AUTH_RATE_SIGNUP_IP="1000/h",
        AUTH_RATE_TOKEN_IP="1000/m",
    )
    env = prepare(env)
    first, second = start_server(env), start_server(env)
    try:
        yield first, second
    finally:
        first.process.stop()
        second.process.stop()
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_write_through_one_process_reaches_subscribers_on_the_other(two_servers):
    first, second = two_servers
    first.rest("POST", "/v1/db/collections", {"name": "shared", "rules": {"read": "true"}})

    async def scenario():
        async with connect(first) as on_first, connect(second) as on_second:
            a, b = Client(on_first), Client(on_second)
            for client in (a, b):
                await client.send(op="subscribe", id="s", collection="shared")
                await client.expect("subscribed")
            first.rest("POST", "/v1/db/shared", {"id": "from-first", "data": {}})
            second.rest("POST", "/v1/db/shared", {"id": "from-second", "data": {}})
            for client in (a, b):
                got = [(await client.expect("change"))["doc"]["id"] for _ in range(2)]
                assert got == ["from-first", "from-second"]

    run(scenario())


def test_presence_and_broadcast_cross_between_processes(two_servers):
    first, second = two_servers

    async def scenario():
        async with connect(first, first.key) as on_first, connect(second, second.key) as on_second:
            a, b = Client(on_first), Client(on_second)
            await a.send(op="join", channel="lobby", presence={"who": "a"})
            await a.expect("presence")
            await b.send(op="join", channel="lobby", presence={"who": "b"})
            state = await b.expect("presence")
            assert [m["state"] for m in state["joins"]] == [{"who": "a"}]
            assert [m["state"] for m in (await a.expect("presence"))["joins"]] == [{"who": "b"}]
            await b.send(op="broadcast", channel="lobby", event="hello", payload=[1])
            assert (await a.expect("broadcast"))["payload"] == [1]

    run(scenario())


def test_presence_of_a_process_that_died_expires_and_the_leave_is_announced(tmp_path, postgres_url, redis_url):
    name, redis_url = scratch_database_name(), scratch_redis_url(redis_url)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env = prepare(
        platform_env(
            uuid.uuid4().hex,
            BAAS_DATA_DIR=str(tmp_path),
            DATABASE_URL=postgres_url.rsplit("/", 1)[0] + f"/{name}",
            REDIS_URL=redis_url,
            CHANNEL_PREFIX=f"rt{uuid.uuid4().hex[:8]}",
            BAAS_PRESENCE_TTL_SECONDS="3",
            LOG_LEVEL="WARNING",
        )
    )
    doomed, survivor = start_server(env), start_server(env)

    async def scenario():
        async with connect(doomed, doomed.key) as on_doomed, connect(survivor, survivor.key) as on_survivor:
            a, b = Client(on_doomed), Client(on_survivor)
            await a.send(op="join", channel="room", presence={"who": "a"})
            await a.expect("presence")
            await b.send(op="join", channel="room", presence={"who": "b"})
            assert [m["state"] for m in (await b.expect("presence"))["joins"]] == [{"who": "a"}]
            doomed.process.process.kill()  # SIGKILL: no goodbye from that process
            left = await b.expect("presence", timeout=15)
            assert [m["state"] for m in left["leaves"]] == [{"who": "a"}]

    try:
        run(scenario())
    finally:
        doomed.process.kill()
        survivor.process.stop()
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
