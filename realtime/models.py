"""What realtime keeps in the database: the rules of broadcast and presence channels."""

from __future__ import annotations

from django.db import models


class ChannelRules(models.Model):
    """The one set of channel rules of the installation (always the row with id 1).

    `join` and `broadcast` are expressions of the rules language with `channel` and `auth` in
    scope; null means the default (docs/realtime.md, "Channel rules"). `version` grows with every
    change, so a process that reloaded twice keeps the newer answer.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    join = models.TextField(null=True, blank=True)
    broadcast = models.TextField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"channel rules v{self.version}"
