"""Revocation across processes (PostgreSQL + Redis): a credential ended through one server process
closes the websockets that use it on the other within a second."""

from __future__ import annotations

import uuid

import pytest

from tests.realtime.conftest import connect, run
from tests.realtime.test_revocation import (
    assert_cut_off,
    new_user,
    open_collection,
    revoke_then_write,
    subscribed,
)
from tests.realtime.test_two_processes import two_servers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", ["key", "logout", "disable"])
def test_a_revocation_through_one_process_closes_the_socket_on_the_other(two_servers, how):  # noqa: F811
    first, second = two_servers
    collection = open_collection(first)
    user = new_user(first)
    key = first.rest("POST", "/v1/admin/keys", {"name": f"k{uuid.uuid4().hex[:8]}"})
    token = key["secret"] if how == "key" else user["access"]
    revoke = {
        "key": lambda: first.rest("DELETE", f"/v1/admin/keys/{key['id']}"),
        "logout": lambda: first.rest("POST", "/v1/auth/logout", {"refresh": user["refresh"]}),
        "disable": lambda: first.rest("PATCH", f"/v1/admin/users/{user['id']}", {"disabled": True}),
    }[how]

    async def scenario():
        async with connect(second, token) as socket, connect(second, second.key) as witness_socket:
            client = await subscribed(socket, collection)
            witness = await subscribed(witness_socket, collection)
            await assert_cut_off(client, socket, revoke_then_write(first, collection, revoke))
            assert (await witness.expect("change"))["doc"]["data"] == {"written": "after the revocation"}

    run(scenario())
