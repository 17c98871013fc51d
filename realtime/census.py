"""What realtime holds right now, for operators (the console's Realtime page).

Connections, their subscriptions and channels live in the memory of the process that serves them.
`local()` reads this process's; each process with connections also publishes a summary (counts
only: connections, subscriptions per topic, members per channel) every CENSUS_SECONDS to Redis
with a short expiry, and `processes()` reads every live process's summary back. On the embedded
default (no Redis) there is one serving process, and `local()` is the whole picture.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

CENSUS_SECONDS = 5.0
# A summary not refreshed for this long belongs to a process that is gone (or has no connections).
CENSUS_TTL_SECONDS = 15
KEY_PREFIX = "baas:realtime:census:"
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class ConnectionView:
    id: str
    kind: str  # the principal's kind: anonymous, user, service, staff
    user: str | None
    subscriptions: list[str]  # topics, e.g. db/notes or storage/avatars
    channels: list[str]


@dataclass
class ProcessSummary:
    process: str
    at: float
    connections: int
    topics: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    # The last event its tailer handed to the subscriptions (None: its tailer does not run).
    position: int | None = None


def _view(connection: Any) -> ConnectionView:
    principal = getattr(connection, "principal", None)
    kind = getattr(principal, "kind", "anonymous")
    return ConnectionView(
        id=getattr(connection, "conn_id", "?"),
        kind=kind,
        user=getattr(principal, "id", None) if kind == "user" else None,
        # Copies: the event loop changes these dicts while a REST thread reads them.
        subscriptions=sorted(sub.topic for sub in list(getattr(connection, "subs", {}).values())),
        channels=sorted(list(getattr(connection, "joined", {}))),
    )


def local(connections: set[Any]) -> list[ConnectionView]:
    """This process's connections (pass `realtime.runtime`'s set)."""
    return [_view(connection) for connection in list(connections)]


def summarize(views: list[ConnectionView], position: int | None = None) -> ProcessSummary:
    topics: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    for view in views:
        topics.update(view.subscriptions)
        channels.update(view.channels)
    return ProcessSummary(
        process=PROCESS_ID,
        at=time.time(),
        connections=len(views),
        topics=dict(topics),
        channels=dict(channels),
        position=position,
    )


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(str(settings.REDIS_URL), socket_timeout=2)


def publish(summary: ProcessSummary) -> None:
    """Publish this process's summary (Redis only; blocking, run it off the event loop)."""
    if not settings.REDIS_URL:
        return
    key = KEY_PREFIX + summary.process
    client = _redis()
    if summary.connections == 0:
        client.delete(key)
    else:
        client.set(key, json.dumps(summary.__dict__), ex=CENSUS_TTL_SECONDS)


def processes() -> list[ProcessSummary] | None:
    """Every serving process's last summary, or None without Redis (one process: use `local`)."""
    if not settings.REDIS_URL:
        return None
    client = _redis()
    keys = sorted(client.scan_iter(match=KEY_PREFIX + "*", count=200))
    found = []
    for raw in client.mget(keys) if keys else []:
        if raw is not None:
            fields = json.loads(raw)
            known = {name: fields[name] for name in ProcessSummary.__dataclass_fields__ if name in fields}
            found.append(ProcessSummary(**known))
    return found
