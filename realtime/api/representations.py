"""What realtime's REST views answer: one function per shape, with its OpenAPI component."""

from __future__ import annotations

from typing import Any

from baas.openapi import STRING, component, examples, nullable, obj
from realtime.channel_rules import DEFAULT_RULE, OPERATIONS, ChannelRuleSet

RULE_SCHEMA = {
    **nullable(STRING),
    "description": "An expression with `channel` and `auth` in scope; null: the default.",
}

RULE_PROPERTIES: dict[str, Any] = dict.fromkeys(OPERATIONS, RULE_SCHEMA)
CHANNEL_RULES_SCHEMA = component(
    "ChannelRules",
    obj(**RULE_PROPERTIES, default=STRING, version={"type": "integer", "minimum": 0}),
)


def channel_rules_repr(rules: ChannelRuleSet) -> dict[str, Any]:
    """`{join, broadcast, default, version}`: the texts (null = the default), the default's text,
    and the version (0 before the first save)."""
    return {**rules.texts, "default": DEFAULT_RULE, "version": max(rules.version, 0)}


_RULES_EXAMPLE = {"join": 'auth.role == "user" && channel != "staff"', "broadcast": None}
examples("channel_rules_get", r200={**_RULES_EXAMPLE, "default": DEFAULT_RULE, "version": 3})
examples(
    "channel_rules_replace", request=_RULES_EXAMPLE, r200={**_RULES_EXAMPLE, "default": DEFAULT_RULE, "version": 4}
)
