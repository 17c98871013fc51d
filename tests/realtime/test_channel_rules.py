"""Channel rules (`join`, `broadcast`; `channel` and `auth` in scope): who may set them, what the
default lets in, and what each persona may do under a rule — anonymous, an anonymous account, a
user, another user with claims, the service role."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.platform.processes import http
from tests.realtime.conftest import Client, Server, connect, run, signup_token

pytestmark = pytest.mark.slow

RULES = "/v1/realtime/channels/rules"


def put_rules(server: Server, rules: dict[str, Any]) -> dict[str, Any]:
    return server.rest("PUT", RULES, rules)


@pytest.fixture
def default_rules(server):
    put_rules(server, {})
    yield
    put_rules(server, {})


def user(server: Server, claims: dict[str, Any] | None = None) -> str:
    user_id, access = signup_token(server, f"u-{uuid.uuid4().hex[:10]}@example.com")
    if claims is not None:
        server.rest("PATCH", f"/v1/admin/users/{user_id}", {"claims": claims})
    return access


def anonymous_account(server: Server) -> str:
    status, answer = http("POST", f"{server.base}/v1/auth/anonymous", body={})
    assert status == 201, answer
    return answer["access"]


async def join(client: Client, channel: str, **presence: Any) -> dict[str, Any]:
    """The answer to a join: `presence` (joined) or `error`."""
    await client.send(op="join", id="j", channel=channel, presence=presence)
    return await client.recv()


# --- setting the rules ---------------------------------------------------------------------------


def test_only_the_service_role_and_staff_read_and_set_the_rules(server, default_rules):
    token = user(server)
    for method, body in (("GET", None), ("PUT", {"join": "true"})):
        assert http(method, f"{server.base}{RULES}", body=body)[0] == 401
        assert http(method, f"{server.base}{RULES}", body=body, token=token)[0] == 403
    assert server.rest("GET", RULES) == {
        "join": None,
        "broadcast": None,
        "default": 'auth.role == "user"',
        "version": server.rest("GET", RULES)["version"],
    }
    saved = put_rules(server, {"join": 'starts_with(channel, "public-")', "broadcast": None})
    assert saved["join"] == 'starts_with(channel, "public-")' and saved["broadcast"] is None
    assert server.rest("GET", RULES) == saved


@pytest.mark.parametrize(
    ("body", "column", "operation"),
    [
        ({"join": "channel =="}, 11, "join"),
        ({"join": 'title == "x"'}, 1, "join"),
        ({"broadcast": 'channel == "a" && channel.kind == "b"'}, 19, "broadcast"),
        ({"join": "request.size > 1"}, 1, "join"),
        ({"join": "$owner == auth.id"}, 1, "join"),
    ],
)
def test_a_bad_rule_is_refused_with_its_position_and_changes_nothing(server, default_rules, body, column, operation):
    before = server.rest("GET", RULES)
    status, answer = http("PUT", f"{server.base}{RULES}", token=server.key, body=body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_rule"
    assert answer["error"]["details"] == {"line": 1, "column": column, "operation": operation}
    assert answer["error"]["message"].startswith(f"The {operation} rule is invalid: ")
    assert server.rest("GET", RULES) == before


EXPECTED = "This field is not accepted here; expected broadcast, join."


@pytest.mark.parametrize(
    ("body", "code", "details"),
    [
        ({"read": "true"}, "validation_error", {"read": [{"code": "unknown_field", "message": EXPECTED}]}),
        (
            {"join": "true", "read": "true", "write": None},
            "validation_error",
            {field: [{"code": "unknown_field", "message": EXPECTED}] for field in ("read", "write")},
        ),
        (
            {"join": 3},
            "validation_error",
            {"join": [{"code": "invalid_type", "message": "A rule is a string or null."}]},
        ),
        ({"join": 'channel == "\ud800"'}, None, None),  # refused here, or at the edge
        (["true"], "invalid_request", {}),
        ("true", "invalid_request", {}),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused_and_changes_nothing(server, default_rules, body, code, details):
    before = server.rest("GET", RULES)
    status, answer = http("PUT", f"{server.base}{RULES}", token=server.key, body=body)
    assert status == 400, answer
    if code is not None:
        assert answer["error"]["code"] == code
        assert answer["error"]["details"] == details
    else:
        assert answer["error"]["code"] in ("validation_error", "invalid_request"), answer
    assert server.rest("GET", RULES) == before


# --- the default: signed-in users with an account ------------------------------------------------


def test_by_default_anonymous_callers_and_accounts_are_refused_users_and_the_service_role_may_join(
    server, default_rules
):
    channel = f"room-{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with (
            connect(server) as nobody_socket,
            connect(server, anonymous_account(server)) as anonymous_socket,
            connect(server, user(server)) as user_socket,
            connect(server, server.key) as service_socket,
        ):
            nobody, anonymous = Client(nobody_socket), Client(anonymous_socket)
            member, service = Client(user_socket), Client(service_socket)
            assert (await join(member, channel, name="member"))["op"] == "presence"
            for refused in (nobody, anonymous):
                answer = await join(refused, channel)
                assert answer["op"] == "error" and answer["code"] == "permission_denied" and answer["id"] == "j"
                assert answer["details"] == {"operation": "join"}
                await refused.send(op="broadcast", channel=channel, event="x", payload={})
                assert (await refused.recv())["code"] == "not_found", "a refused join leaves no membership"
            await member.silent(0.3)  # nobody refused showed up in the presence
            assert (await join(service, channel))["op"] == "presence"
            seen = await member.expect("presence", channel=channel)
            assert seen["joins"][0]["user"] is None, "the service role's key name is not shown"
            assert set(seen["joins"][0]) == {"id", "user", "state"}

    run(scenario())


# --- a rule with channel and auth: personas --------------------------------------------------------


def test_rules_with_channel_and_claims_decide_per_persona(server, default_rules):
    put_rules(
        server,
        {
            "join": 'channel == "lobby" || (starts_with(channel, "red-") && auth.claims.team == "red")',
            "broadcast": 'auth.claims.team == "red"',
        },
    )
    red_room = f"red-{uuid.uuid4().hex[:6]}"

    async def scenario():
        async with (
            connect(server, user(server)) as plain_socket,
            connect(server, user(server, {"team": "red"})) as red_socket,
            connect(server, user(server, {"team": "blue"})) as blue_socket,
            connect(server, server.key) as service_socket,
            connect(server) as nobody_socket,
        ):
            plain, red, blue = Client(plain_socket), Client(red_socket), Client(blue_socket)
            service, nobody = Client(service_socket), Client(nobody_socket)
            # join
            assert (await join(red, red_room, who="red"))["op"] == "presence"
            for refused in (plain, blue, nobody):
                assert (await join(refused, red_room))["code"] == "permission_denied"
            assert (await join(nobody, "lobby"))["op"] == "presence", "the rule, not the default, decides"
            assert (await join(service, red_room))["op"] == "presence", "the service role bypasses rules"
            await red.expect("presence")
            await service.send(op="broadcast", channel=red_room, event="notice", payload={})
            assert (await red.expect("broadcast"))["from"]["user"] is None, "no key name for the members"
            # broadcast: a member without the claim may listen but not speak
            assert (await join(plain, "lobby"))["op"] == "presence"
            await nobody.expect("presence")
            await plain.send(op="broadcast", id="b", channel="lobby", event="hi", payload={})
            denied = await plain.expect("error", code="permission_denied", id="b")
            assert "broadcast" in denied["message"] and denied["details"] == {"operation": "broadcast"}
            await nobody.silent(0.3)
            assert (await join(red, "lobby"))["op"] == "presence"
            await plain.expect("presence")
            await nobody.expect("presence")
            await red.send(op="broadcast", channel="lobby", event="hi", payload={"n": 1})
            assert (await plain.expect("broadcast"))["payload"] == {"n": 1}
            assert (await nobody.expect("broadcast"))["payload"] == {"n": 1}
            await blue.silent(0.3)  # never joined: hears nothing

    run(scenario())


def test_a_rule_change_evicts_members_it_no_longer_admits(server, default_rules):
    put_rules(server, {"join": "true"})
    channel = f"room-{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with connect(server) as nobody_socket, connect(server, user(server)) as member_socket:
            nobody, member = Client(nobody_socket), Client(member_socket)
            assert (await join(member, channel, who="member"))["op"] == "presence"
            assert (await join(nobody, channel, who="nobody"))["op"] == "presence"
            await member.expect("presence")
            put_rules(server, {"join": "auth != null"})
            evicted = await nobody.expect("error", code="permission_denied", channel=channel)
            assert channel in evicted["message"] and evicted["details"] == {"operation": "join"}
            left = await member.expect("presence", channel=channel)
            assert [m["state"] for m in left["leaves"]] == [{"who": "nobody"}]
            await member.send(op="broadcast", channel=channel, event="after", payload={})
            await nobody.silent(0.3)

    run(scenario())
