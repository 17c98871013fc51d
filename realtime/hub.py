"""In-process fan-out of event-log rows to this process's websocket subscriptions.

One `Hub` per process. The tailer (realtime/tailer.py) hands it batches of events, in sequence
order, on the event loop's thread; the hub evaluates each subscription's read rule and filter with
the compiled predicates — no database query per subscriber — and queues the resulting messages
on the subscriber's connection.

A subscription that asked to resume (`since`) or for a snapshot first *buffers* live events while
it replays the log; `go_live()` then flushes the buffer, skipping what the replay already sent,
so the hand-over has no gap and no repeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.utils import timezone

from baas.events import EventRecord
from baas.rules import values
from baas.rules.ast import And, Compare, Const, Field, Node

logger = logging.getLogger("baas.realtime")

Predicate = Callable[..., bool]


class Outbox(Protocol):
    """What a connection offers the hub: a bounded queue of encoded messages."""

    def offer(self, message: str) -> bool:
        """Queue a message; False when the queue is full (the connection is then cut)."""
        ...


@dataclass(frozen=True)
class TopicRules:
    """The current read rule of a topic's collection or bucket (None: only bypassing callers)."""

    read: Predicate | None


@dataclass(eq=False)  # identity: subscriptions live in sets
class Subscription:
    connection: Outbox
    sub_id: str
    topic: str
    auth: dict[str, Any] | None
    bypasses_rules: bool
    filter: Predicate | None
    # `field == constant` in the filter's top-level conjunction, if any: lets the hub look the
    # subscription up by value instead of evaluating its filter for every event of the topic.
    filter_node: Node | None = None
    # Events with seq <= position have been sent (or were before the subscription began).
    position: int = 0
    live: bool = False
    buffer: list[EventRecord] = field(default_factory=list)
    max_buffer: int = 10_000
    overflowed: bool = False

    def visible(self, doc: dict[str, Any] | None, rules: TopicRules, now: datetime) -> bool:
        if doc is None:
            return False
        if not self.bypasses_rules and (rules.read is None or not rules.read(doc, auth=self.auth, now=now)):
            return False
        return self.filter is None or bool(self.filter(doc, auth=self.auth, now=now))

    def change_type(self, event: EventRecord, rules: TopicRules, now: datetime) -> str | None:
        was = self.visible(event.before, rules, now)
        is_now = self.visible(event.after, rules, now)
        if is_now:
            return "modified" if was else "added"
        return "removed" if was else None


def encode_change(sub_id: str, change: str, doc: dict[str, Any], seq: int, doc_json: str | None = None) -> str:
    """The `change` message. The document's JSON can be encoded once per event and reused."""
    body = doc_json if doc_json is not None else json.dumps(doc, separators=(",", ":"))
    return f'{{"op":"change","id":{json.dumps(sub_id)},"type":"{change}","doc":{body},"seq":{seq}}}'


def data_key(topic: str) -> str:
    """Where a topic's documents keep their user data: `data` for documents, `metadata` for objects."""
    return "metadata" if topic.startswith("storage/") else "data"


def equality_key(node: Node | None) -> tuple[tuple[str, ...], tuple[str, Any]] | None:
    """(path, value key) of a `field == scalar` term of a filter's top-level conjunction."""
    terms = node.items if isinstance(node, And) else (node,) if node is not None else ()
    for term in terms:
        if isinstance(term, Compare) and term.op == "==":
            pairs = ((term.left, term.right), (term.right, term.left))
            for field_side, const_side in pairs:
                if isinstance(field_side, Field) and isinstance(const_side, Const):
                    key = value_key(const_side.value)
                    if key is not None:
                        return field_side.path, key
    return None


def value_key(value: Any) -> tuple[str, Any] | None:
    """A hashable key that is equal for two values exactly when the language calls them equal."""
    kind = values.kind(value) if value is not values.MISSING else None
    if kind == values.NUMBER:
        return (kind, float(value))
    if kind in (values.STRING, values.BOOL):
        return (kind, value)
    return None


class _TopicSubscriptions:
    """A topic's subscriptions: those indexed by an equality in their filter, and the rest."""

    def __init__(self, data_key: str = "data") -> None:
        self.data_key = data_key
        self.unindexed: set[Subscription] = set()
        self.indexed: dict[tuple[str, ...], dict[tuple[str, Any], set[Subscription]]] = {}
        self.keys: dict[Subscription, tuple[tuple[str, ...], tuple[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.unindexed) + len(self.keys)

    def add(self, sub: Subscription) -> None:
        key = equality_key(sub.filter_node)
        if key is None:
            self.unindexed.add(sub)
            return
        path, value = key
        self.indexed.setdefault(path, {}).setdefault(value, set()).add(sub)
        self.keys[sub] = key

    def discard(self, sub: Subscription) -> None:
        self.unindexed.discard(sub)
        key = self.keys.pop(sub, None)
        if key is not None:
            path, value = key
            bucket = self.indexed[path][value]
            bucket.discard(sub)
            if not bucket:
                del self.indexed[path][value]
                if not self.indexed[path]:
                    del self.indexed[path]

    def candidates(self, event: EventRecord) -> list[Subscription]:
        """Subscriptions whose filter could hold for the event's before or after document."""
        found = list(self.unindexed)
        for path, by_value in self.indexed.items():
            seen: set[tuple[str, Any]] = set()
            for doc in (event.before, event.after):
                if doc is None:
                    continue
                key = value_key(values.lookup(doc.get(self.data_key), path))
                if key is not None and key not in seen:
                    seen.add(key)
                    found.extend(by_value.get(key, ()))
        return found


class Hub:
    def __init__(self) -> None:
        self._by_topic: dict[str, _TopicSubscriptions] = {}
        self.delivered = 0
        # The last seq handed to the subscriptions: a new live subscription starts after it.
        self.position = 0

    # --- registration ---------------------------------------------------------------------------
    def add(self, subscription: Subscription) -> None:
        subs = self._by_topic.get(subscription.topic)
        if subs is None:
            subs = self._by_topic[subscription.topic] = _TopicSubscriptions(data_key(subscription.topic))
        subs.add(subscription)

    def remove(self, subscription: Subscription) -> None:
        subs = self._by_topic.get(subscription.topic)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._by_topic[subscription.topic]

    def topics(self) -> set[str]:
        return set(self._by_topic)

    def count(self) -> int:
        return sum(len(subs) for subs in self._by_topic.values())

    # --- delivery -------------------------------------------------------------------------------
    def deliver(self, batch: list[EventRecord], rules: dict[str, TopicRules]) -> None:
        """Fan a batch of committed events out to live subscriptions (buffering for the others)."""
        now = timezone.now()
        for event in batch:
            subs = self._by_topic.get(event.topic)
            if not subs:
                continue
            topic_rules = rules.get(event.topic, TopicRules(read=None))
            encoded: dict[str, str] = {}
            for sub in subs.candidates(event):
                if not sub.live:
                    if len(sub.buffer) >= sub.max_buffer:
                        sub.overflowed = True
                    else:
                        sub.buffer.append(event)
                    continue
                self._send(sub, event, topic_rules, now, encoded)

    def replay(self, sub: Subscription, event: EventRecord, rules: TopicRules) -> None:
        """Send one event read from the log during a subscription's catch-up."""
        if event.seq > sub.position:
            self._send(sub, event, rules, timezone.now(), {})

    def go_live(self, sub: Subscription, rules: TopicRules) -> None:
        """Flush what arrived while replaying (skipping what the replay sent) and switch to live.

        Must run on the event loop thread with no await in between: the tailer's deliveries run
        there too, so nothing can slip between the flush and the switch.
        """
        now = timezone.now()
        for event in sub.buffer:
            if event.seq > sub.position:
                self._send(sub, event, rules, now, {})
        sub.buffer.clear()
        sub.live = True

    def _send(
        self, sub: Subscription, event: EventRecord, rules: TopicRules, now: datetime, encoded: dict[str, str]
    ) -> None:
        sub.position = event.seq
        change = sub.change_type(event, rules, now)
        if change is None:
            return
        doc = event.before if change == "removed" else event.after
        side = "before" if change == "removed" else "after"
        if side not in encoded:
            encoded[side] = json.dumps(doc, separators=(",", ":"))
        self.delivered += 1
        sub.connection.offer(encode_change(sub.sub_id, change, doc, event.seq, encoded[side]))  # type: ignore[arg-type]
