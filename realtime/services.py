"""Writes of realtime's own state: replacing the channel rules."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from baas import events
from baas.errors import require_object
from baas.principals import Principal
from realtime.channel_rules import CHANNEL_RULES, CHANNEL_RULES_TOPIC, ChannelRuleSet
from realtime.models import ChannelRules
from realtime.selectors import require_rules_admin


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
