"""What realtime's REST views answer: one function per shape, with its OpenAPI component."""

from __future__ import annotations

from typing import Any

from baas.openapi import STRING, component, nullable, obj
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
