"""Revocation reaches open websockets: a connection whose credentials end (service key revoked,
logout, logout-all, user disabled or deleted, password changed elsewhere, refresh-token reuse) gets
`error token_invalid` and is closed with 4001 within a second, and nothing written after the
revocation reaches it. A new subscription re-checks the credentials too."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import websockets

from tests.platform.processes import http
from tests.realtime.conftest import Client, Server, connect, run

pytestmark = pytest.mark.slow

PASSWORD = "a fine long passphrase"


def open_collection(server: Server) -> str:
    collection = f"c{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {"read": "true"}})
    return collection


def new_user(server: Server) -> dict[str, Any]:
    """A signed-up user: {"id", "email", "access", "refresh"} of its first session."""
    email = f"u-{uuid.uuid4().hex[:10]}@example.com"
    answer = server.user(email)
    return {"id": answer["user"]["id"], "email": email, "access": answer["access"], "refresh": answer["refresh"]}


def another_session(server: Server, user: dict[str, Any]) -> dict[str, Any]:
    status, answer = http("POST", f"{server.base}/v1/auth/token", body={"email": user["email"], "password": PASSWORD})
    assert status == 200, answer
    return {**user, "access": answer["access"], "refresh": answer["refresh"]}


async def subscribed(socket: Any, collection: str) -> Client:
    client = Client(socket)
    await client.send(op="subscribe", id="s", collection=collection)
    await client.expect("subscribed")
    return client


async def assert_cut_off(client: Client, socket: Any, since: float, code: str = "token_invalid") -> float:
    """The next messages are the error and the close (no change): returns the seconds from `since`."""
    error = await client.expect("error", timeout=3)
    assert error["code"] == code, error
    with pytest.raises(websockets.ConnectionClosed):
        await client.recv(timeout=3)
    elapsed = time.monotonic() - since
    assert socket.close_code == 4001
    assert elapsed < 1.0, f"closed {elapsed:.3f} s after the revocation"
    return elapsed


async def assert_still_served(client: Client, server: Server, collection: str) -> None:
    doc_id = f"d{uuid.uuid4().hex[:8]}"
    server.rest("POST", f"/v1/db/{collection}", {"id": doc_id, "data": {}})
    assert (await client.expect("change", id="s"))["doc"]["id"] == doc_id


def revoke_then_write(server: Server, collection: str, revoke: Any) -> float:
    """Revoke, then write a document that the revoked connection must never see."""
    revoke()
    revoked_at = time.monotonic()
    server.rest("POST", f"/v1/db/{collection}", {"data": {"written": "after the revocation"}})
    return revoked_at


def assert_revocation_cuts_only(server: Server, collection: str, cut_token: str, kept_token: str, revoke: Any) -> None:
    """Both connections subscribe; `revoke` ends `cut_token`'s credentials: its connection is cut off
    before the next write reaches it, while `kept_token`'s connection receives that write."""

    async def scenario() -> None:
        async with connect(server, cut_token) as cut_socket, connect(server, kept_token) as kept_socket:
            cut = await subscribed(cut_socket, collection)
            kept = await subscribed(kept_socket, collection)
            revoked_at = revoke_then_write(server, collection, revoke)
            await assert_cut_off(cut, cut_socket, revoked_at)
            assert (await kept.expect("change"))["doc"]["data"] == {"written": "after the revocation"}

    run(scenario())


def test_a_revoked_service_key_closes_its_connection(server):
    collection = open_collection(server)
    key = server.rest("POST", "/v1/admin/keys", {"name": f"k{uuid.uuid4().hex[:8]}"})
    revoke = lambda: server.rest("DELETE", f"/v1/admin/keys/{key['id']}")  # noqa: E731
    assert_revocation_cuts_only(server, collection, key["secret"], server.key, revoke)


def test_logout_closes_that_sessions_connection_only(server):
    collection = open_collection(server)
    user = new_user(server)
    second = another_session(server, user)
    revoke = lambda: server.rest("POST", "/v1/auth/logout", {"refresh": user["refresh"]})  # noqa: E731
    assert_revocation_cuts_only(server, collection, user["access"], second["access"], revoke)


def test_logout_all_closes_every_session_of_the_user(server):
    collection = open_collection(server)
    user = new_user(server)
    second = another_session(server, user)

    async def scenario():
        async with connect(server, user["access"]) as first_socket, connect(server, second["access"]) as second_socket:
            first, other = await subscribed(first_socket, collection), await subscribed(second_socket, collection)
            revoked_at = revoke_then_write(
                server,
                collection,
                lambda: server.rest("POST", "/v1/auth/logout", {"all": True}, token=user["access"]),
            )
            await assert_cut_off(first, first_socket, revoked_at)
            await assert_cut_off(other, second_socket, revoked_at)

    run(scenario())


@pytest.mark.parametrize("how", ["disable", "delete", "admin_logout"])
def test_an_admin_action_on_the_user_closes_its_connections(server, how):
    collection = open_collection(server)
    user = new_user(server)
    path = f"/v1/admin/users/{user['id']}"
    revoke = {
        "disable": lambda: server.rest("PATCH", path, {"disabled": True}),
        "delete": lambda: server.rest("DELETE", path),
        "admin_logout": lambda: server.rest("POST", f"{path}/logout"),
    }[how]

    async def scenario():
        async with connect(server, user["access"]) as socket:
            client = await subscribed(socket, collection)
            await assert_cut_off(client, socket, revoke_then_write(server, collection, revoke))

    run(scenario())


def test_a_password_change_closes_the_other_sessions_connections(server):
    collection = open_collection(server)
    user = new_user(server)
    other = another_session(server, user)
    change = {"password": "another fine long passphrase"}
    revoke = lambda: server.rest("PATCH", "/v1/auth/user", change, token=user["access"])  # noqa: E731
    assert_revocation_cuts_only(server, collection, other["access"], user["access"], revoke)


def test_reuse_of_a_rotated_refresh_token_closes_the_sessions_connections(server):
    collection = open_collection(server)
    user = new_user(server)
    status, rotated = http("POST", f"{server.base}/v1/auth/token/refresh", body={"refresh": user["refresh"]})
    assert status == 200, rotated

    def reuse() -> None:
        status, _ = http("POST", f"{server.base}/v1/auth/token/refresh", body={"refresh": user["refresh"]})
        assert status == 401

    async def scenario():
        async with connect(server, rotated["access"]) as socket:
            client = await subscribed(socket, collection)
            await assert_cut_off(client, socket, revoke_then_write(server, collection, reuse))

    run(scenario())


def test_a_new_subscription_rechecks_the_credentials(server):
    """The session is ended straight in the database, with no announcement: the next subscribe
    finds out by itself and closes the connection instead of opening a feed."""
    collection = open_collection(server)
    user = new_user(server)
    end_quietly = (
        "from django.utils import timezone\n"
        "from auth.models import Session\n"
        f"Session.objects.filter(user_id='{user['id']}').update(revoked_at=timezone.now())\n"
    )

    async def scenario():
        async with connect(server, user["access"]) as socket:
            client = await subscribed(socket, collection)
            server.manage("shell", "-c", end_quietly)
            started = time.monotonic()
            await client.send(op="subscribe", id="again", collection=collection, snapshot=True)
            await assert_cut_off(client, socket, started)

    run(scenario())


def test_connections_of_other_users_and_sessions_are_untouched(server):
    collection = open_collection(server)
    doomed, bystander = new_user(server), new_user(server)

    async def scenario():
        async with connect(server, doomed["access"]) as socket, connect(server, bystander["access"]) as other_socket:
            client = await subscribed(socket, collection)
            other = await subscribed(other_socket, collection)
            server.rest("POST", f"/v1/admin/users/{doomed['id']}/logout")
            await assert_cut_off(client, socket, time.monotonic())
            await assert_still_served(other, server, collection)

    run(scenario())
