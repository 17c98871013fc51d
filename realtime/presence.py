"""Who is in a channel: presence entries shared by every process.

Entries carry an expiry that their connection refreshes; an entry whose process died stops being
refreshed, and the next sweep (by any process with members in that channel) removes it and
announces the leave. In-memory on the embedded default (one process), a Redis hash per channel in
production.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from django.conf import settings


def ttl() -> float:
    """How long an entry lives without a refresh (connections refresh it three times as often)."""
    return float(settings.BAAS_PRESENCE_TTL_SECONDS)


class MemoryPresence:
    def __init__(self) -> None:
        self._channels: dict[str, dict[str, tuple[float, dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def put(self, channel: str, member: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._channels.setdefault(channel, {})[member] = (time.time() + ttl(), entry)

    def remove(self, channel: str, member: str) -> bool:
        with self._lock:
            members = self._channels.get(channel, {})
            removed = members.pop(member, None) is not None
            if not members:
                self._channels.pop(channel, None)
            return removed

    def members(self, channel: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {member: entry for member, (_, entry) in self._channels.get(channel, {}).items()}

    def expire(self, channel: str) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            members = self._channels.get(channel, {})
            gone = [member for member, (expires, _) in members.items() if expires < now]
            return [members.pop(member)[1] for member in gone]


class RedisPresence:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5)

    @staticmethod
    def _key(channel: str) -> str:
        return f"baas:presence:{channel}"

    def put(self, channel: str, member: str, entry: dict[str, Any]) -> None:
        record = json.dumps({"expires": time.time() + ttl(), "entry": entry})
        pipe = self._redis.pipeline()
        pipe.hset(self._key(channel), member, record)
        pipe.expire(self._key(channel), int(ttl() * 4) + 1)
        pipe.execute()

    def remove(self, channel: str, member: str) -> bool:
        return bool(self._redis.hdel(self._key(channel), member))

    def members(self, channel: str) -> dict[str, dict[str, Any]]:
        now = time.time()
        found = {}
        for member, raw in self._redis.hgetall(self._key(channel)).items():
            record = json.loads(raw)
            if record["expires"] >= now:
                found[member.decode()] = record["entry"]
        return found

    def expire(self, channel: str) -> list[dict[str, Any]]:
        """Remove expired entries; only the process whose HDEL succeeds reports each one."""
        now = time.time()
        gone = []
        for member, raw in self._redis.hgetall(self._key(channel)).items():
            record = json.loads(raw)
            if record["expires"] < now and self._redis.hdel(self._key(channel), member):
                gone.append(record["entry"])
        return gone


_store: MemoryPresence | RedisPresence | None = None


def store() -> MemoryPresence | RedisPresence:
    global _store
    if _store is None:
        _store = RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else MemoryPresence()
    return _store
