"""The hub: its equality index (an event is evaluated only against subscriptions it could match,
and never misses one that does), its paced fan-out and the views it shares between subscriptions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baas.events import EventRecord
from baas.rules.ast import DOCUMENT_FIELDS
from baas.rules.predicate import to_predicate
from baas.rules.validate import parse_filter, parse_rule
from realtime.hub import Hub, Subscription, TopicRules


class Recorder:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def offer(self, message: str) -> bool:
        self.messages.append(message)
        return True


def subscribe(hub: Hub, filter_text: str | None) -> Recorder:
    recorder = Recorder()
    node = parse_filter(filter_text) if filter_text else None
    hub.add(
        Subscription(
            connection=recorder,
            sub_id="s",
            topic="db/t",
            auth=None,
            bypasses_rules=True,
            filter=to_predicate(node) if node else None,
            filter_node=node,
            live=True,
        )
    )
    return recorder


def event(seq: int, before: dict | None, after: dict | None) -> EventRecord:
    def doc(data: dict | None) -> dict | None:
        return None if data is None else {"id": "d", "collection": "t", "data": data, "owner": None, "version": 1}

    return EventRecord(seq, "db/t", "updated", "d", doc(before), doc(after), None, None, 0, datetime.now(UTC))


values = st.one_of(st.integers(-3, 3), st.sampled_from([1.0, 2.5, "a", "b", True, False, None]))
datas = st.one_of(st.none(), st.fixed_dictionaries({}, optional={"room": values, "n": values}))


@settings(max_examples=300, deadline=None)
@given(before=datas, after=datas, room=values, extra=st.booleans())
def test_indexed_delivery_equals_evaluating_every_subscription(before, after, room, extra):
    literal = f'"{room}"' if isinstance(room, str) else "null" if room is None else str(room).lower()
    text = f"room == {literal}" + (" && n != 0" if extra else "")
    indexed_hub, full_hub = Hub(), Hub()
    indexed = subscribe(indexed_hub, text)
    # The same filter written so that it cannot be indexed (inside an Or) is evaluated for every event.
    full = subscribe(full_hub, f"({text}) || false")
    for hub in (indexed_hub, full_hub):
        hub.deliver([event(1, before, after)], {"db/t": TopicRules(read=None)})
    assert indexed.messages == full.messages


def test_an_event_is_evaluated_only_against_matching_rooms():
    hub = Hub()
    rooms = {f"r{index}": subscribe(hub, f'room == "r{index}"') for index in range(100)}
    hub.deliver([event(1, None, {"room": "r7"})], {"db/t": TopicRules(read=None)})
    assert [name for name, recorder in rooms.items() if recorder.messages] == ["r7"]


@pytest.mark.parametrize("filter_text", [None, "n > 1", 'room == "a" || room == "b"'])
def test_unindexable_filters_still_get_every_matching_event(filter_text):
    hub = Hub()
    recorder = subscribe(hub, filter_text)
    hub.deliver([event(1, None, {"room": "a", "n": 2})], {"db/t": TopicRules(read=None)})
    assert len(recorder.messages) == 1


# --- paced fan-out: what may happen while the fan-out pauses for the writers ---------------------


def everything(doc, **context) -> bool:  # type: ignore[no-untyped-def]
    return True


def live(hub: Hub, *, position: int = 0, auth: dict | None = None, share: bool = True, rule: str | None = None):
    """A live subscription to db/t whose view is the read `rule` for `auth` (None: bypasses rules).
    Without `share`, its filter is a bare predicate (no text), which is never shared."""
    recorder = Recorder()
    sub = Subscription(
        connection=recorder,
        sub_id="s",
        topic="db/t",
        auth=auth,
        bypasses_rules=rule is None,
        filter=None if share else everything,
        position=position,
        live=True,
    )
    assert (sub.share_key is None) is not share
    hub.add(sub)
    return sub, recorder


def read_rule(text: str) -> dict[str, TopicRules]:
    """Compiled as the documents service compiles a collection's read rule."""
    return {"db/t": TopicRules(read=to_predicate(parse_rule(text, "read", own_fields=DOCUMENT_FIELDS)))}


def changes(recorder: Recorder) -> list[tuple[int, str]]:
    return [(message["seq"], message["type"]) for message in map(json.loads, recorder.messages)]


def test_paced_delivery_delivers_exactly_what_delivery_does():
    batch = [event(seq, None, {"room": seq % 3}) for seq in range(1, 40)]
    paced, direct = Hub(), Hub()
    paced_recorders = [live(paced)[1] for _ in range(25)]
    direct_recorders = [live(direct)[1] for _ in range(25)]
    asyncio.run(paced.deliver_paced(batch, {"db/t": TopicRules(read=None)}, pause_every=7))
    direct.deliver(batch, {"db/t": TopicRules(read=None)})
    assert [r.messages for r in paced_recorders] == [r.messages for r in direct_recorders]
    assert all(changes(r) == [(seq, "added") for seq in range(1, 40)] for r in paced_recorders)


def test_a_subscription_removed_during_a_pause_gets_nothing_more():
    hub = Hub()
    subs = [live(hub) for _ in range(10)]

    async def scenario() -> None:
        fan_out = asyncio.ensure_future(hub.deliver_paced([event(1, None, {})], {}, pause_every=1))
        await asyncio.sleep(0)  # the fan-out has offered to one subscription and paused
        for sub, recorder in subs:
            if not recorder.messages:
                hub.remove(sub)
        await fan_out

    asyncio.run(scenario())
    assert sum(len(recorder.messages) for _, recorder in subs) == 1


def test_a_subscription_added_during_a_pause_starts_after_the_event_being_fanned_out():
    hub = Hub()
    for _ in range(5):
        live(hub)
    joined: list[Recorder] = []

    async def scenario() -> None:
        fan_out = asyncio.ensure_future(hub.deliver_paced([event(1, None, {}), event(2, None, {})], {}, pause_every=1))
        await asyncio.sleep(0)
        assert hub.position == 1, "a new subscription is told it follows from the event being fanned out"
        joined.append(live(hub, position=hub.position)[1])
        await fan_out

    asyncio.run(scenario())
    assert changes(joined[0]) == [(2, "added")]


def test_a_live_subscription_never_gets_again_what_its_catch_up_sent():
    hub = Hub()
    _, recorder = live(hub, position=5)  # its replay read ahead of the tailer, up to seq 5
    hub.deliver([event(seq, None, {}) for seq in (4, 5, 6)], {})
    assert changes(recorder) == [(6, "added")]


def test_shared_views_are_evaluated_once_but_every_caller_keeps_its_own_view():
    rules = read_rule("$owner == auth.id")
    hub = Hub()
    alice = [live(hub, auth={"id": "alice"}, rule="$owner == auth.id")[1] for _ in range(3)]
    bob = live(hub, auth={"id": "bob"}, rule="$owner == auth.id")[1]
    unshared_bob = live(hub, auth={"id": "bob"}, rule="$owner == auth.id", share=False)[1]
    service = live(hub)[1]
    doc = {"id": "d", "collection": "t", "data": {}, "owner": "alice", "version": 1}
    hub.deliver([EventRecord(1, "db/t", "created", "d", None, doc, None, None, 0, datetime.now(UTC))], rules)
    assert [changes(r) for r in alice] == [[(1, "added")]] * 3
    assert changes(bob) == changes(unshared_bob) == []
    assert changes(service) == [(1, "added")]


# --- share keys: derived from what decides a subscription's view -----------------------------------


def keyed(filter_text: str | None, auth: dict | None, *, bypasses_rules: bool = False) -> Subscription:
    node = parse_filter(filter_text) if filter_text else None
    return Subscription(
        connection=Recorder(),
        sub_id="s",
        topic="db/t",
        auth=auth,
        bypasses_rules=bypasses_rules,
        filter=to_predicate(node) if node else None,
        filter_node=node,
        filter_text=filter_text,
    )


def test_the_share_key_is_equal_exactly_when_filter_text_and_caller_context_are():
    alice, bob = {"id": "alice", "claims": {"a": 1, "b": 2}}, {"id": "bob", "claims": {}}
    same = keyed("n > 1", alice), keyed("n > 1", {"claims": {"b": 2, "a": 1}, "id": "alice"})
    assert same[0].share_key == same[1].share_key is not None
    different = [
        keyed("n > 1", alice),
        keyed("n > 2", alice),
        keyed(None, alice),
        keyed("n > 1", bob),
        keyed("n > 1", None),
        keyed("n > 1", alice, bypasses_rules=True),
    ]
    assert len({sub.share_key for sub in different}) == len(different)


def test_reauthenticating_moves_a_subscription_to_its_new_callers_shared_view():
    sub, bobs = keyed("n > 1", {"id": "alice"}), keyed("n > 1", {"id": "bob"})
    sub.reauthenticate({"id": "bob"}, bypasses_rules=False)
    assert sub.auth == {"id": "bob"} and sub.share_key == bobs.share_key
    sub.reauthenticate({"id": "bob"}, bypasses_rules=True)
    assert sub.bypasses_rules and sub.share_key != bobs.share_key


def test_a_subscription_whose_view_changed_is_not_given_another_callers_shared_answer():
    rules = read_rule("$owner == auth.id")
    hub = Hub()
    alice = [live(hub, auth={"id": "alice"}, rule="$owner == auth.id") for _ in range(2)]
    moved, moved_recorder = alice[1]
    moved.reauthenticate({"id": "bob"}, bypasses_rules=False)
    doc = {"id": "d", "collection": "t", "data": {}, "owner": "alice", "version": 1}
    hub.deliver([EventRecord(1, "db/t", "created", "d", None, doc, None, None, 0, datetime.now(UTC))], rules)
    assert changes(alice[0][1]) == [(1, "added")]
    assert changes(moved_recorder) == []
