"""What a subscription may name, and the current read rule of each topic (read through the
owning services, never their models)."""

from __future__ import annotations

import logging
from typing import Any

from baas.errors import NotFound
from documents import services as documents
from realtime.hub import TopicRules, data_key
from storage import services as storage

__all__ = ["bucket_topic", "data_key", "document_topic", "keeps_rules", "redefined_topic", "rules_for", "rules_of"]

logger = logging.getLogger("baas.realtime")


def document_topic(collection: str) -> str:
    return f"db/{collection}"


def bucket_topic(bucket: str) -> str:
    return f"storage/{bucket}"


def redefined_topic(event: Any) -> str | None:
    """The topic whose rules an event of the log announces changed (a collection created, changed
    or deleted), or None. Buckets announce nothing: their rules are read for every batch."""
    if event.topic == documents.COLLECTIONS_TOPIC:
        return document_topic(event.key)
    return None


def keeps_rules(topic: str) -> bool:
    """Whether a topic's rules may be kept from one batch to the next (`redefined_topic` announces
    every change of them)."""
    return topic.startswith("db/")


def rules_of(topic: str) -> TopicRules:
    """The read rule now in force for a topic; raises NotFound for an unknown collection/bucket."""
    kind, _, name = topic.partition("/")
    if kind == "db":
        return TopicRules(read=documents.read_rule_predicate(collection=name))
    if kind == "storage":
        return TopicRules(read=storage.read_rule_predicate(bucket=name))
    raise NotFound(f"Unknown topic {topic!r}.")


def rules_for(topics: set[str]) -> dict[str, TopicRules]:
    """Rules of several topics, one lookup each (per batch of events, not per subscriber)."""
    found: dict[str, TopicRules] = {}
    for topic in topics:
        try:
            found[topic] = rules_of(topic)
        except NotFound:
            found[topic] = TopicRules(read=None)  # deleted meanwhile: only bypassing callers see it
    return found
