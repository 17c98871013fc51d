"""The hub's equality index: an event is evaluated only against subscriptions it could match,
and never misses one that does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baas.events import EventRecord
from baas.rules.predicate import to_predicate
from baas.rules.validate import parse_filter
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
