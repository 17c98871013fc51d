"""Subscriptions: changes as they happen, with rules, filters, snapshots and every protocol op."""

from __future__ import annotations

import uuid

import pytest

from tests.realtime.conftest import Client, connect, run, signup_token

pytestmark = pytest.mark.slow

OWNER_RULES = {
    "read": "public == true || $owner == auth.id",
    "create": "auth != null",
    "update": "$owner == auth.id",
    "delete": "$owner == auth.id",
}


@pytest.fixture
def collection(server):
    name = f"c{uuid.uuid4().hex[:12]}"
    server.rest("POST", "/v1/db/collections", {"name": name, "rules": OWNER_RULES})
    return name


def test_a_subscriber_sees_added_modified_and_removed(server, collection):
    async def scenario():
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection)
            subscribed = await client.expect("subscribed", id="s")
            assert isinstance(subscribed["seq"], int)
            server.rest("POST", f"/v1/db/{collection}", {"id": "a", "data": {"n": 1}})
            added = await client.expect("change", id="s", type="added")
            assert added["doc"]["data"] == {"n": 1} and added["seq"] > subscribed["seq"]
            server.rest("PATCH", f"/v1/db/{collection}/a", {"data": {"n": 2}})
            modified = await client.expect("change", type="modified")
            assert modified["doc"]["version"] == 2 and modified["seq"] > added["seq"]
            server.rest("DELETE", f"/v1/db/{collection}/a")
            removed = await client.expect("change", type="removed")
            assert removed["doc"]["id"] == "a"
            await client.send(op="unsubscribe", id="s")
            await client.expect("unsubscribed", id="s")
            server.rest("POST", f"/v1/db/{collection}", {"id": "b", "data": {}})
            await client.silent()

    run(scenario())


def test_a_filter_turns_entering_and_leaving_into_added_and_removed(server, collection):
    async def scenario():
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="hot", collection=collection, filter="score >= 10")
            await client.expect("subscribed")
            server.rest("POST", f"/v1/db/{collection}", {"id": "x", "data": {"score": 5}})
            await client.silent(0.3)
            server.rest("PATCH", f"/v1/db/{collection}/x", {"data": {"score": 12}})
            assert (await client.expect("change"))["type"] == "added"
            server.rest("PATCH", f"/v1/db/{collection}/x", {"data": {"score": 15}})
            assert (await client.expect("change"))["type"] == "modified"
            server.rest("PATCH", f"/v1/db/{collection}/x", {"data": {"score": 1}})
            gone = await client.expect("change", type="removed")
            assert gone["doc"]["data"]["score"] == 15, "removed carries the last state the client could see"

    run(scenario())


def test_each_event_is_checked_against_the_read_rule_of_each_subscriber(server, collection):
    alice_id, alice = signup_token(server, f"alice-{uuid.uuid4().hex[:6]}@example.com")
    _, bob = signup_token(server, f"bob-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with (
            connect(server, alice) as a,
            connect(server, bob) as b,
            connect(server) as anon,
            connect(server, server.key) as svc,
        ):
            clients = {
                name: Client(socket) for name, socket in (("alice", a), ("bob", b), ("anon", anon), ("svc", svc))
            }
            for client in clients.values():
                await client.send(op="subscribe", id="s", collection=collection)
                await client.expect("subscribed")
            server.rest("POST", f"/v1/db/{collection}", {"id": "secret", "data": {"public": False}}, token=alice)
            assert (await clients["alice"].expect("change"))["doc"]["owner"] == alice_id
            assert (await clients["svc"].expect("change"))["type"] == "added"
            await clients["bob"].silent(0.3)
            await clients["anon"].silent(0.1)

            server.rest("PATCH", f"/v1/db/{collection}/secret", {"data": {"public": True}}, token=alice)
            assert (await clients["bob"].expect("change"))["type"] == "added"
            assert (await clients["anon"].expect("change"))["type"] == "added"
            assert (await clients["alice"].expect("change"))["type"] == "modified"

            server.rest(
                "PATCH", f"/v1/db/{collection}/secret", {"data": {"public": False, "note": "hidden"}}, token=alice
            )
            lost = await clients["bob"].expect("change", type="removed")
            assert "note" not in lost["doc"]["data"], "losing read access never reveals the new state"
            assert (await clients["anon"].expect("change"))["type"] == "removed"
            assert (await clients["alice"].expect("change"))["doc"]["data"]["note"] == "hidden"

    run(scenario())


async def _seeing_a_public_document(socket, server, collection) -> Client:  # type: ignore[no-untyped-def]
    """A client subscribed to the collection that has seen a public document's creation there."""
    client = Client(socket)
    await client.send(op="subscribe", id="s", collection=collection)
    await client.expect("subscribed")
    server.rest("POST", f"/v1/db/{collection}", {"id": "one", "data": {"public": True}})
    assert (await client.expect("change", type="added"))["doc"]["id"] == "one"
    return client


def test_a_read_rule_changed_while_subscribed_applies_to_the_very_next_event(server, collection):
    """Each event is checked against the collection's read rule in force when it is read, not the
    rule of the moment of subscribing: tightening it stops deliveries at once, loosening it opens
    them (the tailer must not keep a rule it read before the change)."""
    _, bob = signup_token(server, f"bob-{uuid.uuid4().hex[:6]}@example.com")

    def set_read_rule(rule: str) -> None:
        server.rest("PATCH", f"/v1/db/collections/{collection}", {"rules": {**OWNER_RULES, "read": rule}})

    async def scenario():
        async with connect(server, bob) as socket:
            client = await _seeing_a_public_document(socket, server, collection)

            set_read_rule("$owner == auth.id")  # bob owns none of them
            server.rest("POST", f"/v1/db/{collection}", {"id": "two", "data": {"public": True}})
            await client.silent(0.5)

            set_read_rule("true")
            server.rest("POST", f"/v1/db/{collection}", {"id": "three", "data": {"public": False}})
            assert (await client.expect("change", type="added"))["doc"]["id"] == "three"

    run(scenario())


def test_a_collection_deleted_and_made_again_with_other_rules_is_read_under_the_new_ones(server, collection):
    _, bob = signup_token(server, f"bob-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with connect(server, bob) as socket:
            client = await _seeing_a_public_document(socket, server, collection)

            server.rest("DELETE", f"/v1/db/collections/{collection}")
            server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {**OWNER_RULES, "read": "false"}})
            server.rest("POST", f"/v1/db/{collection}", {"id": "two", "data": {"public": True}})
            await client.silent(0.5)

    run(scenario())


def test_a_snapshot_comes_first_then_the_changes(server, collection):
    for index in range(3):
        server.rest("POST", f"/v1/db/{collection}", {"id": f"d{index}", "data": {"public": True, "i": index}})

    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection, snapshot=True, filter="i >= 1")
            subscribed = await client.expect("subscribed")
            snapshot = await client.expect("snapshot", id="s")
            assert [doc["id"] for doc in snapshot["docs"]] == ["d1", "d2"]
            assert snapshot["seq"] == subscribed["seq"]
            server.rest("PATCH", f"/v1/db/{collection}/d2", {"data": {"i": 5}})
            change = await client.expect("change", type="modified")
            assert change["seq"] > snapshot["seq"]

    run(scenario())


def test_resuming_with_since_replays_what_was_missed_then_goes_live(server, collection):
    async def scenario():
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection)
            start = (await client.expect("subscribed"))["seq"]
        for index in range(5):
            server.rest("POST", f"/v1/db/{collection}", {"id": f"m{index}", "data": {}})
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection, since=start)
            assert (await client.expect("subscribed"))["seq"] == start
            replayed = [(await client.expect("change"))["doc"]["id"] for _ in range(5)]
            assert replayed == [f"m{index}" for index in range(5)]
            server.rest("POST", f"/v1/db/{collection}", {"id": "live", "data": {}})
            assert (await client.expect("change"))["doc"]["id"] == "live"
            await client.silent(0.3)

    run(scenario())


def field_error(field: str, code: str, message: str) -> dict:
    return {field: [{"code": code, "message": message}]}


NAME_RULE = "must be 1 to {} letters, digits or _ - . :"
OVERFLOW = "numbers must be finite doubles (no NaN, Infinity or overflow such as 1e400)"


@pytest.mark.parametrize(
    ("message", "code", "details"),
    [
        ("not json", "invalid_request", field_error("body", "invalid_json", "Expecting value at line 1, column 1")),
        ("[1, 2]", "invalid_request", {}),
        (
            '{"op": "ping", "message": 1e999}',
            "invalid_request",
            {"message": [{"code": "number_out_of_range", "message": OVERFLOW, "pointer": "/message"}]},
        ),
        ('{"op": "fly"}', "invalid_request", field_error("op", "invalid", "Unknown op 'fly'.")),
        ('{"op": 3}', "invalid_request", field_error("op", "invalid_type", "Unknown op 3.")),
        (
            '{"op": "subscribe", "id": "s"}',
            "invalid_request",
            field_error("collection", "required", "subscribe needs a collection or a bucket."),
        ),
        (
            '{"op": "subscribe", "id": "s", "collection": "no_such_collection"}',
            "not_found",
            {"collection": "no_such_collection"},
        ),
        (
            '{"op": "subscribe", "id": "s", "collection": "COLLECTION", "filter": "a =="}',
            "invalid_filter",
            {"line": 1, "column": 5},
        ),
        (
            '{"op": "subscribe", "id": "s", "collection": "COLLECTION", "filter": 3}',
            "invalid_filter",
            field_error("filter", "invalid_type", "filter must be a string."),
        ),
        (
            '{"op": "subscribe", "id": "bad id!", "collection": "x"}',
            "invalid_request",
            field_error("id", "invalid", "id " + NAME_RULE.format(64)),
        ),
        (
            '{"op": "subscribe", "id": "s", "collection": "COLLECTION", "since": -1}',
            "invalid_request",
            field_error("since", "invalid", "since must be a seq the server sent."),
        ),
        (
            '{"op": "subscribe", "id": "s", "collection": "COLLECTION", "since": "1"}',
            "invalid_request",
            field_error("since", "invalid_type", "since must be a seq the server sent."),
        ),
        ('{"op": "unsubscribe", "id": "never"}', "not_found", {}),
        ('{"op": "broadcast", "channel": "room", "event": "x"}', "not_found", {}),
        ('{"op": "join"}', "invalid_request", field_error("channel", "required", "channel " + NAME_RULE.format(90))),
        ('{"op": "auth", "token": "garbage"}', "token_invalid", {}),
    ],
)
def test_a_malformed_message_gets_an_error_with_details_and_the_connection_stays_up(
    server, collection, message, code, details
):
    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await socket.send(message.replace("COLLECTION", collection))
            error = await client.expect("error")
            assert error["code"] == code, error
            assert set(error) <= {"op", "id", "code", "message", "details"}, error
            assert error["details"] == details, error
            await client.send(op="ping")
            await client.expect("pong")

    run(scenario())


def test_a_second_subscription_with_the_same_id_is_refused(server, collection):
    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection=collection)
            await client.expect("subscribed")
            await client.send(op="subscribe", id="s", collection=collection)
            assert (await client.expect("error", id="s"))["code"] == "conflict"

    run(scenario())


def test_an_oversized_message_is_refused(server):
    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="ping", padding="x" * 70_000)
            assert (await client.expect("error"))["code"] == "too_large"
            await client.send(op="ping")
            await client.expect("pong")

    run(scenario())


def test_a_wrong_token_in_the_url_closes_the_connection_with_a_reason(server):
    async def scenario():
        async with connect(server, "baas_sk_wrong") as socket:
            client = Client(socket)
            assert (await client.expect("error"))["code"] == "token_invalid"
            await socket.wait_closed()
            assert socket.close_code == 4001

    run(scenario())


def test_authenticating_with_a_first_message_grants_the_users_view(server, collection):
    _, alice = signup_token(server, f"carol-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="auth", token=alice)
            await client.expect("authenticated")  # no id sent, none echoed
            await client.send(op="subscribe", id="s", collection=collection)
            await client.expect("subscribed")
            server.rest("POST", f"/v1/db/{collection}", {"id": "mine", "data": {}}, token=alice)
            assert (await client.expect("change"))["doc"]["id"] == "mine"

    run(scenario())


def test_a_bucket_subscription_delivers_object_events_under_the_buckets_read_rule(server):
    bucket = f"b{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/storage/buckets", {"name": bucket, "rules": {"read": "$owner == auth.id"}})
    _, stranger = signup_token(server, f"st-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with connect(server, server.key) as svc_socket, connect(server, stranger) as other_socket:
            svc, other = Client(svc_socket), Client(other_socket)
            for client in (svc, other):
                await client.send(op="subscribe", id="b", bucket=bucket, filter='starts_with($path, "img/")')
                await client.expect("subscribed")
            status = upload(server, f"/v1/storage/objects/{bucket}/img/a.txt", b"hello")
            assert status == 201
            added = await svc.expect("change", id="b", type="added")
            assert added["doc"]["path"] == "img/a.txt" and added["doc"]["size"] == 5
            await other.silent(0.3)
            assert upload(server, f"/v1/storage/objects/{bucket}/doc/b.txt", b"x") == 201
            await svc.silent(0.3)

    run(scenario())


def test_a_successful_auth_is_acknowledged_with_the_messages_id(server):
    _, alice = signup_token(server, f"ack-{uuid.uuid4().hex[:6]}@example.com")

    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="auth", id="a1", token=alice)
            assert await client.expect("authenticated") == {"op": "authenticated", "id": "a1"}
            await client.send(op="auth", id="a2", token=alice)  # a renewal is acknowledged too
            assert await client.expect("authenticated") == {"op": "authenticated", "id": "a2"}
            await client.silent(0.3)

    run(scenario())


def test_an_error_echoes_the_id_of_the_message_it_answers(server):
    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="auth", id="x1", token="garbage")
            refused = await client.expect("error", id="x1")
            assert refused["code"] == "token_invalid"
            await client.send(op="unsubscribe", id="never")
            assert (await client.expect("error", id="never"))["code"] == "not_found"
            await client.send(op="nonsense", id="x2")
            assert (await client.expect("error", id="x2"))["code"] == "invalid_request"
            await client.send(op="nonsense")  # no id sent: none in the answer
            assert "id" not in await client.expect("error")

    run(scenario())


def test_a_bucket_snapshot_sends_the_readable_matching_objects_then_the_changes(server):
    bucket = f"b{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/storage/buckets", {"name": bucket, "rules": {"read": 'starts_with($path, "pub/")'}})
    assert upload(server, f"/v1/storage/objects/{bucket}/pub/a.txt", b"hello") == 201
    assert upload(server, f"/v1/storage/objects/{bucket}/pub/b.txt", b"x") == 201  # filtered out
    assert upload(server, f"/v1/storage/objects/{bucket}/secret/c.txt", b"hello") == 201  # not readable
    assert upload(server, f"/v1/storage/objects/{bucket}/pub/d.txt", b"hello") == 201

    async def scenario():
        async with connect(server) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="b", bucket=bucket, snapshot=True, filter="$size >= 2")
            subscribed = await client.expect("subscribed", id="b")
            snapshot = await client.expect("snapshot", id="b")
            assert [obj["path"] for obj in snapshot["docs"]] == ["pub/a.txt", "pub/d.txt"]
            assert snapshot["docs"][0]["size"] == 5 and snapshot["docs"][0]["bucket"] == bucket
            assert snapshot["seq"] == subscribed["seq"]
            await client.silent(0.3)  # no replay of the uploads before the snapshot
            assert upload(server, f"/v1/storage/objects/{bucket}/pub/e.txt", b"hello") == 201
            change = await client.expect("change", id="b", type="added")
            assert change["doc"]["path"] == "pub/e.txt" and change["seq"] > snapshot["seq"]
            await client.silent(0.3)

    run(scenario())


def upload(server, path: str, body: bytes) -> int:  # type: ignore[no-untyped-def]
    import urllib.request

    request = urllib.request.Request(
        f"{server.base}{path}",
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status
