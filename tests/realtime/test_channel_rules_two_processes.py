"""Channel rules set through one process apply on the other at once (PostgreSQL + Redis)."""

from __future__ import annotations

import pytest

from tests.realtime.conftest import Client, connect, run
from tests.realtime.test_channel_rules import join, user
from tests.realtime.test_two_processes import two_servers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.slow


def test_a_rule_change_through_one_process_applies_on_the_other(two_servers):  # noqa: F811
    first, second = two_servers
    first.rest("PUT", "/v1/realtime/channels/rules", {"join": "true"})

    async def scenario():
        async with connect(second) as nobody_socket, connect(second, user(first)) as member_socket:
            nobody, member = Client(nobody_socket), Client(member_socket)
            assert (await join(member, "lobby", who="member"))["op"] == "presence"
            assert (await join(nobody, "lobby", who="nobody"))["op"] == "presence"
            await member.expect("presence")
            first.rest("PUT", "/v1/realtime/channels/rules", {"join": "auth != null"})
            await nobody.expect("error", code="permission_denied", channel="lobby", timeout=2)
            left = await member.expect("presence", channel="lobby")
            assert [m["state"] for m in left["leaves"]] == [{"who": "nobody"}]
            assert (await join(nobody, "lobby"))["code"] == "permission_denied"

    run(scenario())
