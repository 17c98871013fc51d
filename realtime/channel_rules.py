"""Who may join a broadcast/presence channel, and who may broadcast to it.

Two expressions of the rules language (docs/rules.md), `join` and `broadcast`, with `channel` (the
channel's name, a string), `auth` (the caller, null when anonymous) and `now` in scope. They are
declared as one kind of resource of the kernel's rules helper (`CHANNEL_RULES`, a
`baas.rules.resource.ResourceRules`), which validates, compiles once per text and checks; the
service role bypasses them, as it bypasses collection rules. Unset → `DEFAULT_RULE`: signed-in
users with an account.

Stored in one row (`realtime.models.ChannelRules`, written by `realtime.services`, read by
`realtime.selectors`). A change is also appended to the event log (`CHANNEL_RULES_TOPIC`, with the
new texts and version), so every process's tailer picks the new rules up in log order, with no
query and no cache to expire, and re-checks the members of its channels against the new `join`
rule. This module keeps that process's copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baas.principals import Principal
from baas.rules.ast import Field, Node, OwnFields, walk
from baas.rules.errors import INVALID_RULE, RulesError, where
from baas.rules.resource import ResourceRules

CHANNEL_RULES_TOPIC = "realtime/channel_rules"
OPERATIONS = ("join", "broadcast")
# Callers with credentials of a full account: not anonymous callers, not anonymous accounts (which
# anyone can create in one request). The service role bypasses rules altogether.
DEFAULT_RULE = 'auth.role == "user"'
# A channel rule sees the channel's name as the field `channel` of the record it tests.
_DATA_KEY = "data"


def _only_the_channel_name(node: Node) -> None:
    """A channel has one field, `channel`: any other name is refused with its position."""
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


CHANNEL_RULES = ResourceRules(
    "channel",
    own_fields=OwnFields(()),  # no `$` fields
    data_key=_DATA_KEY,
    operations=OPERATIONS,
    parse_as={"join": "read", "broadcast": "read"},  # no request body: `request…` is refused
    default_rule=DEFAULT_RULE,
    check=_only_the_channel_name,
)


@dataclass(frozen=True)
class ChannelRuleSet:
    """The rules in force: their texts (None: the default) and the version they came with."""

    version: int = -1
    texts: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(OPERATIONS))

    def allows(self, principal: Principal, operation: str, channel: str) -> bool:
        """Whether `principal` may `join` or `broadcast` to `channel` (an evaluation error refuses)."""
        return CHANNEL_RULES.allows(self.texts, operation, principal=principal, doc={_DATA_KEY: {"channel": channel}})


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
