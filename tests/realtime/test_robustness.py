"""Slow consumers, expiring tokens, retention, idle connections."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
import websockets

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import RunningProcess, http, wait_until
from tests.realtime.conftest import (
    Client,
    Server,
    connect,
    prepare,
    run,
    signup_token,
    stack_env,
    start_server,
)

pytestmark = pytest.mark.slow

SECRET = "realtime-tests-" + "s" * 40


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server with a tiny outbox and a known signing key."""
    for env in stack_env(tmp_path_factory.mktemp("rt-strict")):
        env = prepare({**env, "SECRET_KEY": SECRET})
        running = start_server(env, BAAS_REALTIME_OUTBOX="20")
        try:
            yield running
        finally:
            running.process.stop()


def assert_cut_off_as_slow_consumer(server: Any, *, limits: dict[str, int]) -> None:
    """1,000 changes of 20 KB (~20 MB) while the client reads nothing: it is cut off before the
    server has queued them all, with an error it can act on (naming the outbox's `limits`)."""
    collection = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {}})
    blob = "x" * 20_000

    async def scenario() -> tuple[list[dict], int | None]:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection)
            await client.expect("subscribed")
            for _ in range(40):  # 1,000 changes of 20 KB (~20 MB) while the client reads nothing
                ops = [{"op": "create", "collection": collection, "data": {"blob": blob}}] * 25
                server.rest("POST", "/v1/db/batch", {"ops": ops})
            messages = []
            try:
                while True:
                    messages.append(await client.recv(timeout=10))
            except Exception:
                pass
            return messages, socket.close_code

    messages, close_code = run(scenario())
    errors = [m for m in messages if m.get("op") == "error"]
    assert errors and errors[-1]["code"] == "slow_consumer"
    assert errors[-1]["details"] == limits
    assert close_code == 4008
    assert len(messages) < 1000, "the server stopped queueing instead of holding everything"
    # The server itself is fine and the client can resume.
    assert server.rest("GET", "/v1/health") == {"status": "ok", "sandbox": "bubblewrap"}


def collection_and_user(server: Any, read_rule: str) -> tuple[str, str]:
    """A new collection with this read rule, and a new user's access token."""
    collection = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {"read": read_rule}})
    _, access = signup_token(server, f"u-{uuid.uuid4().hex[:8]}@example.com")
    return collection, access


def short_lived(access: str, seconds: int) -> str:
    """The same user's access token, re-signed to expire in `seconds`."""
    claims = jwt.decode(access, options={"verify_signature": False})
    claims["exp"] = int(time.time()) + seconds
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def subscribed(socket: Any, collection: str) -> Client:
    client = Client(socket)
    await client.send(op="subscribe", id="s", collection=collection)
    await client.expect("subscribed")
    return client


def test_an_expired_token_closes_the_connection_with_token_expired(strict_server):
    """API.md, Additions in v1 (Revocation): an error, then the close, within a second of expiry."""
    server = strict_server
    collection, access = collection_and_user(server, "true")

    async def scenario():
        token = short_lived(access, 3)
        expiry = jwt.decode(token, options={"verify_signature": False})["exp"]
        async with connect(server, token) as socket:
            client = await subscribed(socket, collection)
            error = await client.expect("error", timeout=8)
            assert error["code"] == "token_expired" and error["details"] == {}
            with pytest.raises(websockets.ConnectionClosed):
                await client.recv(timeout=2)
            assert socket.close_code == 4001
            assert time.time() - expiry < 1.5, "closed within a second of the expiry"
        async with connect(server, access) as socket:  # a fresh token, then resubscribe
            await subscribed(socket, collection)

    run(scenario())


def test_a_client_that_cannot_keep_up_is_cut_off_with_slow_consumer(strict_server):
    assert_cut_off_as_slow_consumer(strict_server, limits={"limit": 20, "byte_limit": 8 * 1024 * 1024})


def test_the_outbox_is_bounded_in_bytes_too(strict_server):
    # Room for 1,000 messages but only 64 KiB: three 20 KB changes fill it.
    frugal = start_server(strict_server.env, BAAS_REALTIME_OUTBOX="1000", BAAS_REALTIME_OUTBOX_BYTES="65536")
    try:
        assert_cut_off_as_slow_consumer(frugal, limits={"limit": 1000, "byte_limit": 65536})
    finally:
        frugal.process.stop()


def test_a_fresh_token_sent_before_expiry_keeps_the_subscriptions_going(strict_server):
    server = strict_server
    collection, access = collection_and_user(server, "auth != null")

    async def scenario():
        async with connect(server, short_lived(access, 3)) as socket:
            client = await subscribed(socket, collection)
            await client.send(op="auth", token=access)  # renewed before the first one runs out
            await client.expect("authenticated")
            await asyncio.sleep(4.5)  # past the first token's expiry and a sweep
            server.rest("POST", f"/v1/db/{collection}", {"id": "after-expiry", "data": {}})
            change = await client.expect("change", id="s", type="added")
            assert change["doc"]["id"] == "after-expiry"

    run(scenario())


def test_a_connection_cannot_switch_to_another_user(strict_server):
    server = strict_server
    collection = f"c{uuid.uuid4().hex[:12]}"
    server.rest(
        "POST",
        "/v1/db/collections",
        {"name": collection, "rules": {"read": "$owner == auth.id", "create": "auth != null"}},
    )
    alice_id, alice = signup_token(server, f"a-{uuid.uuid4().hex[:6]}@example.com")
    _, bob = signup_token(server, f"b-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with connect(server, alice) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection)
            await client.expect("subscribed")
            await client.send(op="auth", token=bob)
            refused = await client.expect("error")
            assert refused["code"] == "permission_denied" and refused["details"] == {}
            server.rest("POST", f"/v1/db/{collection}", {"id": "bobs", "data": {}}, token=bob)
            server.rest("POST", f"/v1/db/{collection}", {"id": "alices", "data": {}}, token=alice)
            change = await client.expect("change", id="s")
            assert change["doc"]["id"] == "alices" and change["doc"]["owner"] == alice_id

    run(scenario())


def test_a_quiet_connection_is_closed_after_the_idle_timeout(strict_server):
    impatient = start_server(strict_server.env, BAAS_REALTIME_IDLE_SECONDS="5")

    async def quiet(socket: Any) -> None:
        client = Client(socket)
        error = await client.expect("error", timeout=15)
        assert error["code"] == "idle_timeout" and error["details"] == {"idle_seconds": 5}
        await socket.wait_closed()
        assert socket.close_code == 4000

    async def scenario():
        # More connections than the sweeper looks at between two pauses (runtime.SWEEP_PAUSE_EVERY),
        # so the ones after a pause are looked after too.
        sockets = [await connect(impatient) for _ in range(600)]
        try:
            await asyncio.gather(*(quiet(socket) for socket in sockets))
        finally:
            await asyncio.gather(*(socket.close() for socket in sockets))

    try:
        run(scenario())
    finally:
        impatient.process.stop()


def test_resuming_from_before_the_retention_horizon_asks_for_a_resync(strict_server):
    server = strict_server
    collection = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {}})
    for _ in range(3):
        server.rest("POST", f"/v1/db/{collection}", {"data": {}})
    server.manage("shell", "-c", "from baas import events; events.prune(max_count=1)")
    shown = server.manage("shell", "-c", "from baas import events; print('pruned', events.pruned_through())")
    pruned_through = int(shown.split("pruned ")[1].split()[0])
    assert pruned_through > 0

    async def scenario():
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection, since=0)
            error = await client.expect("error", id="s")
            assert error["code"] == "resync_required"
            assert error["details"] == {"oldest_since": pruned_through}
            await client.send(op="ping")
            await client.expect("pong")

    run(scenario())


def test_the_server_lifts_a_low_open_file_limit_to_hold_many_connections(strict_server):
    # Started with a soft limit of 256 descriptors, as many systems start processes with 1,024.
    port = free_port()
    command = ["bash", "-c", f'ulimit -Sn 256 && exec "$0" serve --port {port}', BAAS_BIN]
    process = RunningProcess(command, env=strict_server.env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=30), process.text
        server = Server(base=base, key=strict_server.key, env=strict_server.env, process=process)

        async def scenario() -> None:
            sockets = [await asyncio.wait_for(connect(server), 10) for _ in range(400)]
            try:
                for socket in sockets:
                    await Client(socket).send(op="ping")
                for socket in sockets:
                    await Client(socket).expect("pong")
            finally:
                await asyncio.gather(*(socket.close() for socket in sockets))

        run(scenario())
    finally:
        process.stop()
