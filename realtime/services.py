"""Writes of realtime's own state (replacing the channel rules), and the operators' overview of
what realtime holds now (`realtime_overview`, for the console)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from baas import events
from baas.errors import require_object
from baas.principals import Principal
from realtime import census, presence, runtime
from realtime.channel_rules import CHANNEL_RULES, CHANNEL_RULES_TOPIC, ChannelRuleSet
from realtime.models import ChannelRules
from realtime.selectors import channel_rules, require_rules_admin


def check_channel_rules(*, body: Any, actor: Principal) -> dict[str, str | None]:
    """Authorize and validate a PUT body `{"join"?, "broadcast"?}`: each a rule text or null
    (absent = null). 400 `invalid_request` unless an object, `validation_error` for an unknown
    field (`unknown_field`) or a rule that is not a string, `invalid_rule` (with line, column and
    operation) for an expression that does not parse or names anything but `channel`."""
    require_rules_admin(actor)
    return CHANNEL_RULES.validate(require_object(body), field=None)


def do_replace_channel_rules(*, texts: dict[str, str | None], actor: Principal) -> ChannelRuleSet:
    """Store checked rules and announce the change in the event log, in one transaction: every
    process's tailer adopts them in log order (realtime/runtime.py)."""
    with transaction.atomic():
        row, _ = ChannelRules.objects.select_for_update().get_or_create(pk=1)
        before = {"join": row.join, "broadcast": row.broadcast, "version": row.version}
        row.join, row.broadcast, row.version = texts["join"], texts["broadcast"], row.version + 1
        row.save()
        events.append(
            events.Change(
                topic=CHANNEL_RULES_TOPIC,
                kind=events.UPDATED,
                key="rules",
                before=before,
                after={**texts, "version": row.version},
                actor=actor,
            )
        )
    return ChannelRuleSet(version=row.version, texts=texts)


def replace_channel_rules(*, body: Any, actor: Principal) -> ChannelRuleSet:
    """PUT /v1/realtime/channels/rules: check, then replace."""
    return do_replace_channel_rules(texts=check_channel_rules(body=body, actor=actor), actor=actor)


# The overview shows presence for this many channels at most (one presence read each).
OVERVIEW_CHANNELS = 100


@dataclass
class ChannelView:
    name: str
    local_members: int  # members through this process's connections
    members: list[dict[str, Any]]  # presence entries from every process (id, user, state)


@dataclass
class RealtimeOverview:
    process: str
    connections: list[census.ConnectionView]  # this process's
    topics: dict[str, int]  # subscriptions per topic, this process
    channels: list[ChannelView]
    # Every serving process's last summary (Redis), or None on the embedded default, where this
    # process is the only one that serves websockets.
    processes: list[census.ProcessSummary] | None
    rules: ChannelRuleSet


def realtime_overview(*, actor: Principal) -> RealtimeOverview:
    """Connections, subscriptions per topic, channels with their presence and the channel rules,
    for the service role and staff. Connections are this process's; `processes` adds the others'
    counts when there are several (realtime/census.py)."""
    require_rules_admin(actor)
    views = runtime.census()
    mine = census.summarize(views)
    others = census.processes()
    names = set(mine.channels)
    for summary in others or []:
        names.update(summary.channels)
    store = presence.store()
    channels = [
        ChannelView(name=name, local_members=mine.channels.get(name, 0), members=list(store.members(name).values()))
        for name in sorted(names)[:OVERVIEW_CHANNELS]
    ]
    return RealtimeOverview(
        process=census.PROCESS_ID,
        connections=views,
        topics=dict(sorted(mine.topics.items())),
        channels=channels,
        processes=others,
        rules=channel_rules(),
    )


def census_summaries() -> list[census.ProcessSummary]:
    """Counts of every process that serves websockets (connections, subscriptions per topic,
    channel members, the tailer's position): this process's as of now, the others' as they last
    published them to Redis (every few seconds, realtime/census.py). Counts only, no identities:
    for `/metrics` (realtime/metrics.py)."""
    mine = census.summarize(runtime.census(), runtime.position())
    others = [summary for summary in census.processes() or [] if summary.process != mine.process]
    return [mine, *others]
