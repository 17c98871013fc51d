"""Broadcast and presence channels."""

from __future__ import annotations

import uuid

import pytest

from tests.realtime.conftest import Client, connect, run, signup_token

pytestmark = pytest.mark.slow


def token(server) -> str:
    """A signed-in user's access token: by default, channels are for signed-in users."""
    return signup_token(server, f"u-{uuid.uuid4().hex[:10]}@example.com")[1]


def test_presence_and_broadcast_between_two_clients(server):
    channel = f"room-{uuid.uuid4().hex[:8]}"
    ann, ben = token(server), token(server)

    async def scenario():
        async with connect(server, ann) as first_socket, connect(server, ben) as second_socket:
            first, second = Client(first_socket), Client(second_socket)
            await first.send(op="join", channel=channel, presence={"name": "ann"})
            alone = await first.expect("presence", channel=channel)
            assert alone["joins"] == [] and alone["leaves"] == []

            await second.send(op="join", channel=channel, presence={"name": "ben"})
            state = await second.expect("presence", channel=channel)
            assert [member["state"] for member in state["joins"]] == [{"name": "ann"}], "the state of the others"
            joined = await first.expect("presence", channel=channel)
            assert [member["state"] for member in joined["joins"]] == [{"name": "ben"}]

            await second.send(op="broadcast", channel=channel, event="wave", payload={"hi": 1})
            message = await first.expect("broadcast", channel=channel, event="wave")
            assert message["payload"] == {"hi": 1} and message["from"]["id"]
            await second.silent(0.3)  # the sender does not hear itself

            await second.send(op="leave", channel=channel)
            left = await first.expect("presence", channel=channel)
            assert [member["state"] for member in left["leaves"]] == [{"name": "ben"}]

            await second.send(op="join", channel=channel, presence={"name": "ben"})
            await second.expect("presence")
            await first.expect("presence")
        # Leaving by disconnecting is announced too.
        async with connect(server, ann) as watcher_socket:
            watcher = Client(watcher_socket)
            await watcher.send(op="join", channel=channel)
            assert (await watcher.expect("presence"))["joins"] == []

    run(scenario())


def test_a_dropped_connection_leaves_its_channels(server):
    channel = f"room-{uuid.uuid4().hex[:8]}"
    stayer, dropper = token(server), token(server)

    async def scenario():
        async with connect(server, stayer) as stay_socket:
            stay = Client(stay_socket)
            await stay.send(op="join", channel=channel)
            await stay.expect("presence")
            async with connect(server, dropper) as drop_socket:
                drop = Client(drop_socket)
                await drop.send(op="join", channel=channel, presence={"n": 1})
                await drop.expect("presence")
                await stay.expect("presence")
            left = await stay.expect("presence")
            assert [member["state"] for member in left["leaves"]] == [{"n": 1}]

    run(scenario())
