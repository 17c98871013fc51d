"""Reads of realtime's own state: the channel rules in force."""

from __future__ import annotations

from baas.errors import NotAuthenticated, PermissionDenied
from baas.principals import Principal
from realtime.channel_rules import ChannelRuleSet
from realtime.models import ChannelRules


def require_rules_admin(principal: Principal) -> None:
    """Channel rules are read and set by the service role and staff only (others: 401 / 403)."""
    if principal.is_anonymous:
        raise NotAuthenticated()
    if principal.kind not in ("service", "staff"):
        raise PermissionDenied("Only the service role and staff may read or set the channel rules.")


def channel_rules() -> ChannelRuleSet:
    """The channel rules as stored (version 0 and the defaults before the first save).

    For the process's own use (the realtime runtime loads them once); callers on behalf of a
    client go through `access_channel_rules`.
    """
    row = ChannelRules.objects.filter(pk=1).first()
    if row is None:
        return ChannelRuleSet(version=0)
    return ChannelRuleSet(version=row.version, texts={"join": row.join, "broadcast": row.broadcast})


def access_channel_rules(principal: Principal) -> ChannelRuleSet:
    """The channel rules, for the service role and staff."""
    require_rules_admin(principal)
    return channel_rules()
