"""In-process fan-out of event-log rows to this process's websocket subscriptions.

One `Hub` per process. The tailer (realtime/tailer.py) hands it batches of events, in sequence
order, on the event loop's thread; the hub evaluates each subscription's read rule and filter with
the compiled predicates — no database query per subscriber — and queues the resulting messages
on the subscriber's connection. `deliver_paced` yields to the event loop every few hundred
subscriptions, so the connections' writers send the first messages of a burst while the rest of
it is still being fanned out.

Work is shared where the outcome cannot differ: a message's text is encoded once per event, change
type and subscription id; subscriptions with the same `share_key` (same filter text, same caller
context) share one evaluation of the read rule and filter per event.

A subscription that asked to resume (`since`) or for a snapshot first *buffers* live events while
it replays the log; `go_live()` then flushes the buffer, skipping what the replay already sent,
so the hand-over has no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Hashable, Iterator
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
    """One client subscription to a topic. `auth` and `bypasses_rules` change only through
    `reauthenticate`, which keeps `share_key` in step with them."""

    connection: Outbox
    sub_id: str
    topic: str
    auth: dict[str, Any] | None
    bypasses_rules: bool
    # The compiled filter; `filter_text` is its source. A filter given without its text is never
    # shared with another subscription (nothing tells two such filters apart).
    filter: Predicate | None
    # `field == constant` in the filter's top-level conjunction, if any: lets the hub look the
    # subscription up by value instead of evaluating its filter for every event of the topic.
    filter_node: Node | None = None
    filter_text: str | None = None
    # Events with seq <= position have been sent (or were before the subscription began).
    position: int = 0
    live: bool = False
    buffer: list[EventRecord] = field(default_factory=list)
    max_buffer: int = 10_000
    overflowed: bool = False
    # False once removed from the hub: a fan-out that paused does not deliver to it any more.
    active: bool = True
    # Subscriptions of a topic with equal keys see exactly the same changes (same filter text and
    # caller context): the hub evaluates one of them per event. None: never shared. Derived.
    share_key: Hashable | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.share_key = self._derive_share_key()

    def reauthenticate(self, auth: dict[str, Any] | None, *, bypasses_rules: bool) -> None:
        """The connection's credentials were refreshed (a later `auth` message): new caller context."""
        self.auth, self.bypasses_rules = auth, bypasses_rules
        self.share_key = self._derive_share_key()

    def _derive_share_key(self) -> Hashable | None:
        """What decides this subscription's view of its topic's events, besides the topic's rule."""
        if self.filter is not None and self.filter_text is None:
            return None
        return (self.filter_text, self.bypasses_rules, json.dumps(self.auth, sort_keys=True, default=str))

    def visible(self, doc: dict[str, Any] | None, rules: TopicRules, now: datetime) -> bool:
        if doc is None:
            return False
        if not self.bypasses_rules and (rules.read is None or not rules.read(doc, auth=self.auth, now=now)):
            return False
        return self.filter is None or bool(self.filter(doc, auth=self.auth, now=now))

    def visible_or_hidden(self, event: EventRecord, side: str, rules: TopicRules, now: datetime) -> bool:
        """`visible` for the event's before or after state; a state whose read rule or filter
        cannot be evaluated (a value the language cannot handle) counts as not visible, for this
        subscription only, and is logged."""
        try:
            return self.visible(getattr(event, side), rules, now)
        except Exception:
            _log_evaluation_error(event, self.sub_id)
            return False

    def change_type(self, event: EventRecord, rules: TopicRules, now: datetime) -> str | None:
        was = self.visible_or_hidden(event, "before", rules, now)
        is_now = self.visible_or_hidden(event, "after", rules, now)
        if is_now:
            return "modified" if was else "added"
        return "removed" if was else None


# The seq of the last event whose evaluation error was logged: one bad document seen by thousands
# of subscriptions logs once, with the first subscription's id, not thousands of times.
_last_logged_error_seq = -1


def _log_evaluation_error(event: EventRecord, sub_id: str) -> None:
    global _last_logged_error_seq
    if event.seq != _last_logged_error_seq:
        _last_logged_error_seq = event.seq
        logger.warning(
            "realtime: an event could not be evaluated for a subscription; it counts as not visible to it",
            extra={"seq": event.seq, "topic": event.topic, "subscription": sub_id},
            exc_info=True,
        )


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
        try:
            return (kind, float(value))
        except OverflowError:
            # An integer beyond the range of doubles equals no double: it is its own key.
            return (kind, value)
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
            try:
                found.extend(self._indexed_candidates(event, path, by_value))
            except Exception:
                # A value the index cannot key: every subscription on this path evaluates its own
                # filter instead (never fewer candidates than could match).
                logger.warning("realtime: no index key for seq %s", event.seq, exc_info=True)
                for subs in by_value.values():
                    found.extend(subs)
        return found

    def _indexed_candidates(
        self, event: EventRecord, path: tuple[str, ...], by_value: dict[tuple[str, Any], set[Subscription]]
    ) -> list[Subscription]:
        found: list[Subscription] = []
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
        # Topics that carry news for the process rather than for subscriptions (an ended
        # credential, new channel rules): topic → handler(event), run in log order on the loop.
        self.control: dict[str, Callable[[EventRecord], None]] = {}
        # Called (on the loop) when the tailer had to skip events it can no longer read: whatever
        # control events were among them must be made up for.
        self.on_gap: Callable[[], None] | None = None
        # Deliveries skipped because something failed for one event and one subscription (logged).
        self.failed = 0
        # The last seq handed to the subscriptions: a new live subscription starts after it.
        self.position = 0

    # --- registration ---------------------------------------------------------------------------
    def add(self, subscription: Subscription) -> None:
        subscription.active = True
        subs = self._by_topic.get(subscription.topic)
        if subs is None:
            subs = self._by_topic[subscription.topic] = _TopicSubscriptions(data_key(subscription.topic))
        subs.add(subscription)

    def remove(self, subscription: Subscription) -> None:
        subscription.active = False
        subs = self._by_topic.get(subscription.topic)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._by_topic[subscription.topic]

    def topics(self) -> set[str]:
        return set(self._by_topic)

    # --- delivery -------------------------------------------------------------------------------
    def deliver(self, batch: list[EventRecord], rules: dict[str, TopicRules]) -> None:
        """Fan a batch of committed events out to live subscriptions (buffering for the others)."""
        for _ in self._fan_out(batch, rules, pause_every=0):
            pass

    async def deliver_paced(self, batch: list[EventRecord], rules: dict[str, TopicRules], pause_every: int) -> None:
        """`deliver`, yielding to the event loop after every `pause_every` subscriptions looked at.

        What may happen during a pause is safe: a removed subscription is skipped (`active`), one
        that went live receives only events after what its replay sent, and one added meanwhile
        starts after the event being fanned out (`position`).
        """
        for _ in self._fan_out(batch, rules, pause_every=pause_every):
            await asyncio.sleep(0)

    def _fan_out(self, batch: list[EventRecord], rules: dict[str, TopicRules], pause_every: int) -> Iterator[None]:
        now = timezone.now()
        budget = pause_every
        for event in batch:
            # A subscription added from here on did not get this event's candidates: it starts after it.
            self.position = event.seq
            handler = self.control.get(event.topic)
            if handler is not None:
                self._control(handler, event)
                continue
            subs = self._by_topic.get(event.topic)
            if not subs:
                continue
            topic_rules = rules.get(event.topic, TopicRules(read=None))
            shared: dict[Hashable, str | None] = {}
            encoded: dict[Any, str] = {}
            for sub in subs.candidates(event):
                if not sub.active:
                    continue
                if sub.live:
                    if event.seq > sub.position:  # its catch-up may have read ahead of the tailer
                        self._send(sub, event, topic_rules, now, encoded, shared)
                elif len(sub.buffer) >= sub.max_buffer:
                    sub.overflowed = True
                else:
                    sub.buffer.append(event)
                budget -= 1
                if budget == 0:
                    budget = pause_every
                    yield

    @staticmethod
    def _control(handler: Callable[[EventRecord], None], event: EventRecord) -> None:
        try:
            handler(event)
        except Exception:
            logger.exception("realtime: handling control event %s (%s) failed", event.seq, event.topic)

    def replay(self, sub: Subscription, event: EventRecord, rules: TopicRules) -> None:
        """Send one event read from the log during a subscription's catch-up."""
        if event.seq > sub.position:
            self._send(sub, event, rules, timezone.now(), {}, {})

    def go_live(self, sub: Subscription, rules: TopicRules) -> None:
        """Flush what arrived while replaying (skipping what the replay sent) and switch to live.

        Must run on the event loop thread with no await in between: the tailer's deliveries run
        there too, so nothing can slip between the flush and the switch.
        """
        now = timezone.now()
        for event in sub.buffer:
            if event.seq > sub.position:
                self._send(sub, event, rules, now, {}, {})
        sub.buffer.clear()
        sub.live = True

    def _send(
        self,
        sub: Subscription,
        event: EventRecord,
        rules: TopicRules,
        now: datetime,
        encoded: dict[Any, str],
        shared: dict[Hashable, str | None],
    ) -> None:
        """Queue the change this event makes for the subscription, if any. `encoded` and `shared`
        memoise, for this one event, message texts and the change types of shared views.

        Never raises: whatever goes wrong with one event for one subscription is logged and costs
        no other subscription, and no other event, anything."""
        sub.position = event.seq
        try:
            self._queue_change(sub, event, rules, now, encoded, shared)
        except Exception:
            self.failed += 1
            _log_evaluation_error(event, sub.sub_id)

    def _queue_change(
        self,
        sub: Subscription,
        event: EventRecord,
        rules: TopicRules,
        now: datetime,
        encoded: dict[Any, str],
        shared: dict[Hashable, str | None],
    ) -> None:
        key = sub.share_key
        if key is None:
            change = sub.change_type(event, rules, now)
        elif key in shared:
            change = shared[key]
        else:
            change = shared[key] = sub.change_type(event, rules, now)
        if change is None:
            return
        message = encoded.get((sub.sub_id, change))
        if message is None:
            side = "before" if change == "removed" else "after"
            doc_json = encoded.get(side)
            if doc_json is None:
                doc_json = encoded[side] = json.dumps(getattr(event, side), separators=(",", ":"))
            message = encoded[(sub.sub_id, change)] = encode_change(sub.sub_id, change, {}, event.seq, doc_json)
        sub.connection.offer(message)
