"""An event that one subscription's rule or filter cannot evaluate (a number beyond the range of
doubles, or any other failure) costs the other subscriptions and the other events nothing: for
that subscription the state counts as not visible, and the error is logged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from baas.events import EventRecord
from baas.rules.predicate import to_predicate
from baas.rules.validate import parse_filter
from realtime.hub import Hub, Subscription, TopicRules
from tests.realtime.conftest import Client, connect, run

HUGE = 10**400  # beyond float range: float(HUGE) raises OverflowError


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    def offer(self, message: str) -> bool:
        self.messages.append(json.loads(message))
        return True


def subscribe(hub: Hub, sub_id: str, filter_text: str | None = None, *, topic: str = "db/t", predicate=None):
    recorder = Recorder()
    node = parse_filter(filter_text) if filter_text else None
    hub.add(
        Subscription(
            connection=recorder,
            sub_id=sub_id,
            topic=topic,
            auth=None,
            bypasses_rules=True,
            filter=predicate or (to_predicate(node) if node else None),
            filter_node=node,
            filter_text=filter_text,
            live=True,
        )
    )
    return recorder


def event(seq: int, data: dict, *, topic: str = "db/t", before: dict | None = None) -> EventRecord:
    def doc(value: dict | None) -> dict | None:
        return None if value is None else {"id": f"d{seq}", "data": value, "owner": None, "version": 1}

    kind = "updated" if before is not None else "created"
    return EventRecord(seq, topic, kind, f"d{seq}", doc(before), doc(data), None, None, 0, datetime.now(UTC))


def seqs(recorder: Recorder) -> list[int]:
    return [message["seq"] for message in recorder.messages]


@pytest.mark.parametrize("filter_text", ["n == 1", "n > 1", "n == 1 && ok == true", "ok == true"])
def test_a_number_beyond_doubles_costs_nobody_else_their_events(filter_text):
    hub = Hub()
    filtered = subscribe(hub, "filtered", filter_text)
    everything = subscribe(hub, "everything")
    elsewhere = subscribe(hub, "elsewhere", topic="db/other")
    batch = [
        event(1, {"n": 2, "ok": True}),
        event(2, {"n": HUGE, "ok": True}),
        event(3, {"n": 2, "ok": True}, topic="db/other"),
        event(4, {"n": 1, "ok": True}),
        event(5, {"n": 5, "ok": True}),
    ]
    hub.deliver(batch, {"db/t": TopicRules(read=None), "db/other": TopicRules(read=None)})
    assert seqs(everything) == [1, 2, 4, 5]
    assert seqs(elsewhere) == [3]
    expected = {"n == 1": [4], "n > 1": [1, 5], "n == 1 && ok == true": [4], "ok == true": [1, 4, 5]}
    # Whatever the language makes of the huge number, the events around it arrive.
    assert [seq for seq in seqs(filtered) if seq != 2] == expected[filter_text]


def test_a_failing_filter_hides_that_state_from_its_own_subscription_only():
    def explodes_on_seven(doc, *, auth=None, now=None, request=None):
        if doc["data"].get("n") == 7:
            raise RuntimeError("cannot evaluate")
        return True

    hub = Hub()
    fragile = subscribe(hub, "fragile", predicate=explodes_on_seven)
    sturdy = subscribe(hub, "sturdy")
    hub.deliver(
        [
            event(1, {"n": 1}),
            event(2, {"n": 7}, before={"n": 1}),  # visible → cannot be evaluated: removed
            event(3, {"n": 2}, before={"n": 7}),  # cannot be evaluated → visible: added
            event(4, {"n": 7}),  # never visible to it: nothing
        ],
        {"db/t": TopicRules(read=None)},
    )
    assert [(m["seq"], m["type"]) for m in fragile.messages] == [(1, "added"), (2, "removed"), (3, "added")]
    assert [(m["seq"], m["type"]) for m in sturdy.messages] == [
        (1, "added"),
        (2, "modified"),
        (3, "modified"),
        (4, "added"),
    ]
    assert fragile.messages[1]["doc"]["data"] == {"n": 1}, "removed carries the last state it could see"


def test_a_failing_read_rule_counts_as_not_readable():
    def rule(doc, *, auth=None, now=None, request=None):
        if doc["data"].get("n") == HUGE:
            raise OverflowError("int too large to convert to float")
        return True

    hub = Hub()
    recorder = Recorder()
    hub.add(
        Subscription(
            connection=recorder,
            sub_id="s",
            topic="db/t",
            auth={"id": "u"},
            bypasses_rules=False,
            filter=None,
            live=True,
        )
    )
    hub.deliver([event(1, {"n": HUGE}), event(2, {"n": 1})], {"db/t": TopicRules(read=rule)})
    assert seqs(recorder) == [2]


@pytest.mark.slow
def test_a_poisoned_row_in_the_event_log_does_not_stop_a_live_server(server):
    """The row is written straight into the event log, as no API write would accept it."""
    collection = f"c{uuid.uuid4().hex[:10]}"
    server.rest("POST", "/v1/db/collections", {"name": collection, "rules": {"read": "true"}})
    inject = (
        "from django.db import transaction\n"
        "from baas import events\n"
        "with transaction.atomic():\n"
        f"    events.append(events.Change(topic='db/{collection}', kind='created', key='poison', before=None,\n"
        f"        after={{'id': 'poison', 'data': {{'n': 10**400}}, 'owner': None, 'version': 1}}, actor=None))\n"
    )

    async def scenario():
        async with connect(server, server.key) as a_socket, connect(server, server.key) as b_socket:
            indexed, plain = Client(a_socket), Client(b_socket)
            await indexed.send(op="subscribe", id="eq", collection=collection, filter="n == 1")
            await indexed.expect("subscribed")
            await plain.send(op="subscribe", id="all", collection=collection)
            await plain.expect("subscribed")
            server.manage("shell", "-c", inject)
            server.rest("POST", f"/v1/db/{collection}", {"id": "after", "data": {"n": 1}})
            assert (await indexed.expect("change", id="eq"))["doc"]["id"] == "after"
            got = [(await plain.expect("change", id="all"))["doc"]["id"] for _ in range(2)]
            assert got == ["poison", "after"]

    run(scenario())
