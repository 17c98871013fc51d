"""Per-connection limits: subscriptions, channels, message rate, snapshot size. Each refusal is an
`error` on a connection that stays up and keeps what it already had."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.realtime.conftest import Client, Server, connect, prepare, run, stack_env, start_server

pytestmark = pytest.mark.slow

MAX_SUBSCRIPTIONS = 2
RATE = 5  # messages a second; the bucket holds two seconds' worth
SNAPSHOT_LIMIT = 3


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for env in stack_env(tmp_path_factory.mktemp("rt-limited")):
        running = start_server(
            prepare(env),
            BAAS_REALTIME_MAX_SUBSCRIPTIONS=str(MAX_SUBSCRIPTIONS),
            BAAS_REALTIME_RATE=str(RATE),
            BAAS_REALTIME_SNAPSHOT_LIMIT=str(SNAPSHOT_LIMIT),
        )
        try:
            yield running
        finally:
            running.process.stop()


def new_collection(server: Server) -> str:
    name = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": name, "rules": {"read": "true"}})
    return name


def test_subscriptions_beyond_the_limit_are_refused_and_the_others_keep_delivering(limited_server):
    server = limited_server
    collection = new_collection(server)

    async def scenario() -> None:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            for sub_id in ("a", "b"):
                await client.send(op="subscribe", id=sub_id, collection=collection)
                await client.expect("subscribed", id=sub_id)
            await client.send(op="subscribe", id="c", collection=collection)
            refused = await client.expect("error", id="c")
            assert refused["code"] == "too_many" and refused["details"] == {"limit": MAX_SUBSCRIPTIONS}
            server.rest("POST", f"/v1/db/{collection}", {"id": "d1", "data": {}})
            got = {(await client.expect("change", type="added"))["id"] for _ in range(2)}
            assert got == {"a", "b"}
            await client.silent(0.3)
            # Unsubscribing frees a place.
            await client.send(op="unsubscribe", id="a")
            await client.expect("unsubscribed", id="a")
            await client.send(op="subscribe", id="c", collection=collection)
            await client.expect("subscribed", id="c")

    run(scenario())


def test_channels_beyond_the_limit_are_refused(limited_server):
    async def scenario() -> None:
        async with connect(limited_server, limited_server.key) as socket:
            client = Client(socket)
            for index in range(MAX_SUBSCRIPTIONS):
                await client.send(op="join", channel=f"room-{index}")
                await client.expect("presence", channel=f"room-{index}")
            await client.send(op="join", channel="one-too-many")
            refused = await client.expect("error")
            assert refused["code"] == "too_many" and refused["details"] == {"limit": MAX_SUBSCRIPTIONS}
            await client.send(op="broadcast", channel="one-too-many", event="hi", payload={})
            not_joined = await client.expect("error")
            assert not_joined["code"] == "not_found", "the refused join left no membership"
            assert not_joined["details"] == {}

    run(scenario())


def test_a_client_sending_too_fast_is_told_so_and_served_again_once_it_slows_down(limited_server):
    async def scenario() -> None:
        async with connect(limited_server) as socket:
            client = Client(socket)
            for _ in range(RATE * 4):
                await client.send(op="ping")
            replies = [await client.recv() for _ in range(RATE * 4)]
            answers = [reply["op"] for reply in replies]
            assert answers.count("pong") >= RATE, answers
            assert answers.count("pong") <= RATE * 3, "the bucket holds about two seconds' worth"
            errors = [reply for reply in replies if reply["op"] != "pong"]
            assert errors and {error["op"] for error in errors} == {"error"}
            assert all(error["code"] == "rate_limited" and error["details"] == {"limit": RATE} for error in errors)
            await asyncio.sleep(1.0)
            await client.send(op="ping")
            await client.expect("pong")

    run(scenario())


def test_rate_limited_messages_are_not_acted_on(limited_server):
    server = limited_server
    collection = new_collection(server)

    async def scenario() -> list[dict[str, Any]]:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            for _ in range(RATE * 3):
                await client.send(op="ping")
            await client.send(op="subscribe", id="late", collection=collection)
            replies = [await client.recv() for _ in range(RATE * 3 + 1)]
            server.rest("POST", f"/v1/db/{collection}", {"data": {}})
            await client.silent(0.5)
            return replies

    replies = run(scenario())
    assert replies[-1] == {
        **replies[-1],
        "op": "error",
        "code": "rate_limited",
        "id": "late",
        "details": {"limit": RATE},
    }


def test_a_snapshot_larger_than_the_limit_is_refused_instead_of_cut_short(limited_server):
    server = limited_server
    collection = new_collection(server)
    for index in range(SNAPSHOT_LIMIT + 1):
        server.rest("POST", f"/v1/db/{collection}", {"id": f"d{index}", "data": {"n": index}})

    async def scenario() -> None:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="all", collection=collection, snapshot=True)
            refused = await client.expect("error", id="all")
            assert refused["code"] == "snapshot_too_large" and refused["details"] == {"limit": SNAPSHOT_LIMIT}
            server.rest("PATCH", f"/v1/db/{collection}/d0", {"data": {"n": 10}})
            await client.silent(0.3)  # no subscription was left behind
            # A filter that matches few enough gets its snapshot.
            await client.send(op="subscribe", id="some", collection=collection, snapshot=True, filter="n >= 2")
            await client.expect("subscribed", id="some")
            snapshot = await client.expect("snapshot", id="some")
            assert sorted(doc["id"] for doc in snapshot["docs"]) == ["d0", "d2", "d3"]

    run(scenario())


def test_a_bucket_snapshot_larger_than_the_limit_is_refused_instead_of_cut_short(limited_server):
    import urllib.request

    server = limited_server
    bucket = f"b{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/storage/buckets", {"name": bucket, "rules": {"read": "true"}})
    for index in range(SNAPSHOT_LIMIT + 1):
        request = urllib.request.Request(
            f"{server.base}/v1/storage/objects/{bucket}/o{index}.txt",
            data=b"x" * (index + 1),
            method="PUT",
            headers={"Authorization": f"Bearer {server.key}", "Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201

    async def scenario() -> None:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="all", bucket=bucket, snapshot=True)
            refused = await client.expect("error", id="all")
            assert refused["code"] == "snapshot_too_large" and refused["details"] == {"limit": SNAPSHOT_LIMIT}
            # A filter that matches few enough gets its snapshot.
            await client.send(op="subscribe", id="some", bucket=bucket, snapshot=True, filter="$size >= 2")
            await client.expect("subscribed", id="some")
            snapshot = await client.expect("snapshot", id="some")
            assert [obj["path"] for obj in snapshot["docs"]] == ["o1.txt", "o2.txt", "o3.txt"]

    run(scenario())
