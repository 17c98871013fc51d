"""Who may join a broadcast/presence channel, and who may broadcast to it.

Two expressions of the rules language (docs/rules.md), `join` and `broadcast`, with `channel` (the
channel's name, a string), `auth` (the caller, null when anonymous) and `now` in scope. They are
parsed once into a Python predicate; the service role bypasses them, as it bypasses collection
rules. Unset → `DEFAULT_RULE`: signed-in users with an account.

Stored in one row (`realtime.models.ChannelRules`). A change is also appended to the event log
(`CHANNEL_RULES_TOPIC`, with the new texts and version), so every process's tailer picks the new
rules up in log order, with no query and no cache to expire, and re-checks the members of its
channels against the new `join` rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from baas.errors import InvalidRequest, ValidationFailed
from baas.principals import Principal
from baas.rules.ast import Field, Node, OwnFields, walk
from baas.rules.errors import INVALID_RULE, RulesError, where
from baas.rules.predicate import Predicate, to_predicate
from baas.rules.validate import parse_rule

logger = logging.getLogger("baas.realtime")

CHANNEL_RULES_TOPIC = "realtime/channel_rules"
OPERATIONS = ("join", "broadcast")
# Callers with credentials of a full account: not anonymous callers, not anonymous accounts (which
# anyone can create in one request). The service role bypasses rules altogether.
DEFAULT_RULE = 'auth.role == "user"'
_NO_OWN_FIELDS = OwnFields(())
# A channel rule sees the channel's name as the field `channel` of the "document" it tests.
_NAME_KEY = "data"


def parse_channel_rule(text: str) -> Node:
    """Parse a channel rule; RulesError (400 `invalid_rule`, with line and column) on any problem."""
    node = parse_rule(text, "read", own_fields=_NO_OWN_FIELDS)
    for item in walk(node):
        if isinstance(item, Field) and item.path != ("channel",):
            line, column = (item.pos.line, item.pos.column) if item.pos else (1, 1)
            raise RulesError(
                f"unknown name '{'.'.join(item.path)}' (channel rules know channel, auth and now) "
                f"(at {where(line, column)})",
                code=INVALID_RULE,
                line=line,
                column=column,
            )
    return node


@lru_cache(maxsize=256)
def _compiled(text: str) -> Predicate:
    return to_predicate(parse_channel_rule(text), data_key=_NAME_KEY)


@dataclass(frozen=True)
class ChannelRuleSet:
    """The rules in force: their texts (None: the default) and the version they came with."""

    version: int = -1
    texts: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(OPERATIONS))

    def allows(self, principal: Principal, operation: str, channel: str) -> bool:
        if principal.bypasses_rules:
            return True
        text = self.texts.get(operation) or DEFAULT_RULE
        try:
            return bool(_compiled(text)({_NAME_KEY: {"channel": channel}}, auth=principal.rules_context()))
        except Exception:
            logger.warning("a channel rule could not be evaluated; refusing", exc_info=True)
            return False


def check_rules(body: Any) -> dict[str, str | None]:
    """Validate a PUT body `{"join"?, "broadcast"?}`: each a rule text or null (absent = null)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    unknown = set(body) - set(OPERATIONS)
    if unknown:
        raise InvalidRequest(
            f"Unknown field(s) {', '.join(sorted(unknown))}; channel rules are join and broadcast.",
            details={"unknown": sorted(unknown)},
        )
    texts: dict[str, str | None] = {}
    for operation in OPERATIONS:
        text = body.get(operation)
        if text is not None and not isinstance(text, str):
            raise ValidationFailed(details={operation: [{"code": "invalid_type", "message": "A string or null."}]})
        if text is not None and not _is_valid_unicode(text):
            message = "The rule holds invalid Unicode (a lone surrogate)."
            raise ValidationFailed(details={operation: [{"code": "invalid", "message": message}]})
        if text is not None:
            parse_channel_rule(text)  # raises invalid_rule with the position
        texts[operation] = text
    return texts


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def describe(rules: ChannelRuleSet) -> dict[str, Any]:
    """The API shape: the texts (null = default), the default, and the version."""
    return {**rules.texts, "default": DEFAULT_RULE, "version": max(rules.version, 0)}


# --- storage (synchronous: views and the runtime's loader call these) -----------------------------


def load() -> ChannelRuleSet:
    from realtime.models import ChannelRules

    row = ChannelRules.objects.filter(pk=1).first()
    if row is None:
        return ChannelRuleSet(version=0)
    return ChannelRuleSet(version=row.version, texts={"join": row.join, "broadcast": row.broadcast})


def save(*, body: Any, actor: Principal) -> ChannelRuleSet:
    """Replace the rules (PUT) and announce the change in the event log, in one transaction."""
    from django.db import transaction

    from baas import events
    from realtime.models import ChannelRules

    texts = check_rules(body)
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


def from_event(after: dict[str, Any]) -> ChannelRuleSet:
    """The rules an announcement carries (checked when they were saved)."""
    return ChannelRuleSet(
        version=int(after.get("version", 0)), texts={operation: after.get(operation) for operation in OPERATIONS}
    )


# --- the process's copy --------------------------------------------------------------------------

_current: ChannelRuleSet | None = None


def current() -> ChannelRuleSet | None:
    """The rules this process applies; None until `adopt` was first called."""
    return _current


def adopt(rules: ChannelRuleSet) -> bool:
    """Use these rules unless newer ones are in force already; True when they changed."""
    global _current
    if _current is not None and _current.version >= rules.version:
        return False
    _current = rules
    return True


def forget() -> None:
    """Drop the process's copy (its announcements may have been skipped): reloaded at next use."""
    global _current
    _current = None
