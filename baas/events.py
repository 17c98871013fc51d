"""The event log: every observable write, in one ordered, lossless sequence.

Writers call `append()` inside the transaction that makes the change. Readers (the realtime
tailer, the trigger dispatcher) keep the last sequence number they processed and call
`read_after(seq)`; `EventWaiter` wakes them when something new may have been committed.

The ordering guarantee: a reader that has seen seq N will never later find a committed row with a
sequence number below N. On PostgreSQL sequence values are drawn before commit, so a plain
BIGSERIAL would let seq 11 become visible while seq 10 is still in flight — and a reader would
skip 10 forever. `append()` therefore takes a transaction-scoped advisory lock before drawing its
sequence numbers; the lock is held until commit, so sequence order equals commit order (a
committed transaction is visible to others before its locks are released). SQLite already runs
one writer at a time. The cost: appends of different transactions are serialized from the first
event insert to commit, so the event should be appended last in a write transaction. See
docs/events.md for the measurement and the alternatives considered.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from baas.errors import ApiError
from baas.models import Event, EventLogState
from baas.principals import Principal
from baas.rows import aware, json_value, lean_rows, prepared_cursor

logger = logging.getLogger("baas.events")

NOTIFY_CHANNEL = "baas_events"
# Any constant works; it only has to be the same in every process that appends events.
_APPEND_LOCK_KEY = 0x6BAA5E7E

CREATED, UPDATED, DELETED = "created", "updated", "deleted"
KINDS = (CREATED, UPDATED, DELETED)


class ResyncRequired(ApiError):
    """The reader's position was pruned by retention: it must reload state, then tail from now."""

    code, http_status, default_message = (
        "resync_required",
        410,
        "Events after this position are no longer kept; reload the current state and resume from there.",
    )


@dataclass(frozen=True)
class Causation:
    """Which function invocation caused a write, and how long the chain of such causes is."""

    invocation_id: str | None = None
    depth: int = 0


@dataclass(frozen=True)
class Change:
    """A change to record: where (topic, key), what (kind, the states before and after), who made it
    and, for a function's write, which invocation caused it."""

    topic: str
    kind: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: Principal | None
    causation: Causation | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")


@dataclass(frozen=True)
class EventRecord:
    seq: int
    topic: str
    kind: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    actor: dict[str, Any] | None
    invocation_id: str | None
    depth: int
    created_at: datetime

    @property
    def event_id(self) -> str:
        """A stable id for idempotent consumers (functions get it as `ctx.event_id`)."""
        return str(self.seq)


def actor_of(principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    return {"kind": principal.kind, "id": principal.id, "role": principal.role}


def append(change: Change) -> EventRecord:
    """Record one change. Must be called inside the transaction that made the change, as late
    in it as possible (the append lock is held from here to commit on PostgreSQL)."""
    if not connection.in_atomic_block:
        raise RuntimeError("events.append() must run inside the transaction that made the change")
    event = _unsaved(change)
    values = _row_values(event, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One round trip: the lock (and NOTIFY) are taken in the FROM clause, so before the
            # row's sequence number is drawn. The lock is held until commit: see the module docstring.
            cursor.execute(_APPEND_POSTGRES, [*values, _APPEND_LOCK_KEY, NOTIFY_CHANNEL])
        else:
            cursor.execute(_APPEND_SQLITE, values)  # SQLite: BEGIN IMMEDIATE admits one writer at a time
        (seq,) = cursor.fetchone()
    transaction.on_commit(_local_wakeup.notify)
    return replace(event, seq=seq)


def can_append_with_write() -> bool:
    """Whether `append_with_write()` may be used here: PostgreSQL, outside any transaction."""
    return _can_append_with_write(connections[DEFAULT_DB_ALIAS])


def _can_append_with_write(db: Any) -> bool:
    # (One lookup of the thread's connection: each attribute read through the `connection` proxy
    # looks it up again, a few thousand instructions each.)
    return db.vendor == "postgresql" and not db.in_atomic_block and db.get_autocommit()


def append_with_write(
    write_sql: str, write_params: list[Any], change: Change, *, prelude: str = "", prelude_params: Iterable[Any] = ()
) -> EventRecord | None:
    """Make a change and record it in ONE statement, which is its own transaction (PostgreSQL only,
    outside any transaction: see `can_append_with_write()`).

    `write_sql` is a data-modifying statement with a RETURNING clause (INSERT/UPDATE/DELETE …
    RETURNING 1); it runs as a CTE of the same INSERT that `append()` runs, with the same advisory
    lock taken before the event's sequence number is drawn and held until the statement commits, so
    the ordering guarantee is unchanged. Saves the BEGIN, COMMIT and a separate append round trip
    of a write transaction. When the write returns no row, nothing is written or recorded and the
    answer is None (the caller decides what that means, e.g. a stale precondition). `prelude`:
    CTEs (`name AS (…)`, comma-separated) run before the write in the same statement, which the
    write may read from (a write that depends on another, e.g. storage's journal row removal).
    """
    db = connections[DEFAULT_DB_ALIAS]
    if not _can_append_with_write(db):
        raise RuntimeError("events.append_with_write() runs on PostgreSQL outside a transaction; use append()")
    event = _unsaved(change)
    ctes = f"{prelude}, " if prelude else ""
    # (`lean_execute`: the statement straight on libpq, as prepared_cursor() would run it.)
    found = lean_rows(
        db,
        f"WITH {ctes}written AS ({write_sql}) {_APPEND_AFTER_WRITE_POSTGRES}",
        [*prelude_params, *write_params, *_row_values(event, db), _APPEND_LOCK_KEY, NOTIFY_CHANNEL],
    )
    if not found:
        return None
    _local_wakeup.notify()  # the statement has committed already
    return replace(event, seq=int(found[0][0] or 0))  # (a bigint's text, never NULL)


_NO_CAUSATION = Causation()


def _unsaved(change: Change) -> EventRecord:
    """The event as it will be recorded, but for its sequence number (drawn by the INSERT)."""
    causation = change.causation or _NO_CAUSATION
    return EventRecord(
        seq=0,
        topic=change.topic,
        kind=change.kind,
        key=change.key,
        before=change.before,
        after=change.after,
        actor=actor_of(change.actor),
        invocation_id=causation.invocation_id,
        depth=causation.depth,
        created_at=timezone.now(),
    )


def _row_values(event: EventRecord, db: Any) -> list[Any]:
    """The event's columns as statement parameters for `db` (a connection wrapper: passed in, as
    each attribute read through Django's `connection` proxy looks the thread's connection up again)."""
    ops = db.ops
    return [
        event.topic,
        event.kind,
        event.key,
        _json_param(event.before, ops),
        _json_param(event.after, ops),
        _json_param(event.actor, ops),
        event.invocation_id,
        event.depth,
        ops.adapt_datetimefield_value(event.created_at),
    ]


_COLUMNS = "topic, kind, key, before, after, actor, invocation_id, depth, created_at"
_APPEND_POSTGRES = (
    f'INSERT INTO "{Event._meta.db_table}" ({_COLUMNS}) '
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s "
    "FROM (SELECT pg_advisory_xact_lock(%s), pg_notify(%s, '')) AS append_lock "
    "RETURNING seq"
)
# The same INSERT after a write CTE named `written`: the event row exists only when the write
# returned a row, and the lock subquery is a row source of the INSERT exactly as in append().
_APPEND_AFTER_WRITE_POSTGRES = (
    f'INSERT INTO "{Event._meta.db_table}" ({_COLUMNS}) '
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s "
    "FROM (SELECT 1 FROM written LIMIT 1) AS write_done, "
    "(SELECT pg_advisory_xact_lock(%s), pg_notify(%s, '')) AS append_lock "
    "RETURNING seq"
)
_APPEND_SQLITE = (
    f'INSERT INTO "{Event._meta.db_table}" ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq'
)


def _json_param(value: Any, ops: Any) -> Any:
    return None if value is None else ops.adapt_json_value(value, DjangoJSONEncoder)


def read_after(seq: int, *, topics: Iterable[str] | None = None, limit: int = 500) -> list[EventRecord]:
    """Committed events with a sequence number above `seq`, in order, at most `limit` of them.

    Raises ResyncRequired when retention has pruned events the reader has not seen.
    """
    topics = list(topics) if topics is not None else []
    with prepared_cursor(connection) as cursor:
        cursor.execute(_read_after_sql(len(topics)), [seq, *topics, limit])
        rows = cursor.fetchall()
    # The horizon comes from the same statement, so from the same snapshot as the events: a prune
    # (which deletes from the oldest up and raises the horizon in one transaction) is either wholly
    # visible to this read or not at all.
    horizon = rows[0][0]
    if seq < horizon:
        raise ResyncRequired(details={"since": seq, "oldest_available": horizon + 1})
    if rows[0][1] is None:  # the outer join's one row when no event follows `seq`
        return []
    # Plain tuples, not model instances: the realtime tailer reads every event, and the ORM's
    # query building and per-row conversions cost more than the query itself.
    return [
        EventRecord(
            seq=row[1],
            topic=row[2],
            kind=row[3],
            key=row[4],
            before=json_value(row[5]),
            after=json_value(row[6]),
            actor=json_value(row[7]),
            invocation_id=row[8],
            depth=row[9],
            created_at=aware(row[10]),
        )
        for row in rows
    ]


# The Event columns of an EventRecord, in its field order.
_READ_COLUMNS = [field.name for field in dataclasses.fields(EventRecord)]


@functools.cache
def _read_after_sql(topic_count: int) -> str:
    """One statement for the events after a position and the retention horizon (a single row of
    NULL events when there are none), so that a reader keeping up costs one round trip."""
    topic_filter = f" AND topic IN ({', '.join(['%s'] * topic_count)})" if topic_count else ""
    columns = ", ".join(f'"{column}"' for column in _READ_COLUMNS)
    events = f'SELECT {columns} FROM "{Event._meta.db_table}" WHERE seq > %s{topic_filter} ORDER BY seq LIMIT %s'
    horizon = (
        f'SELECT COALESCE(MAX(pruned_through), 0) AS pruned_through FROM "{EventLogState._meta.db_table}" WHERE id = 1'
    )
    picked = ", ".join(f'e."{column}"' for column in _READ_COLUMNS)
    return f"SELECT h.pruned_through, {picked} FROM ({horizon}) AS h LEFT JOIN ({events}) AS e ON 1 = 1 ORDER BY e.seq"


def latest_seq() -> int:
    """The highest committed sequence number (0 for an empty log): where a new reader starts."""
    last = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or pruned_through()


def pruned_through() -> int:
    state = EventLogState.objects.filter(id=1).values_list("pruned_through", flat=True).first()
    return state or 0


def prune(*, max_age: timedelta | None = None, max_count: int | None = None) -> int:
    """Apply retention: drop events older than `max_age` or beyond the newest `max_count`.

    Returns how many were deleted. Readers behind the new horizon get ResyncRequired.
    """
    max_age = max_age if max_age is not None else timedelta(seconds=settings.BAAS_EVENT_RETENTION_SECONDS)
    max_count = max_count if max_count is not None else settings.BAAS_EVENT_RETENTION_COUNT
    horizon = 0
    newest = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    if newest - max_count > 0:
        horizon = newest - max_count
    too_old = (
        Event.objects.filter(created_at__lt=timezone.now() - max_age)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    horizon = max(horizon, too_old or 0)
    if horizon <= pruned_through():
        return 0
    with transaction.atomic():
        # Raise the horizon first: a reader between the two statements gets a resync, never a gap.
        EventLogState.objects.update_or_create(id=1, defaults={"pruned_through": horizon})
        deleted, _ = Event.objects.filter(seq__lte=horizon).delete()
    logger.info("pruned the event log", extra={"through_seq": horizon, "deleted": deleted})
    return deleted


class _LocalWakeup:
    """Wakes readers in this process right after a local commit that appended events."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def notify(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def generation(self) -> int:
        with self._condition:
            return self._generation

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen, timeout=timeout)


_local_wakeup = _LocalWakeup()


class EventWaiter:
    """Blocks until new events may have been committed, by any process.

    PostgreSQL: LISTEN on a dedicated connection (NOTIFY is sent by every committing append).
    SQLite: the in-process wake-up, plus a short poll for writes made by other processes.
    A wake-up is a hint: callers always re-read with `read_after()`.
    """

    def __init__(self, *, poll_interval: float | None = None) -> None:
        self.poll_interval = poll_interval or settings.BAAS_EVENT_POLL_SECONDS
        self._listener: Any = None
        self._generation = _local_wakeup.generation()
        if connection.vendor == "postgresql":
            self._listener = _listen_connection()

    def wait(self, timeout: float) -> None:
        if self._listener is not None:
            self._wait_postgres(timeout)
            return
        _local_wakeup.wait(self._generation, min(timeout, self.poll_interval))
        self._generation = _local_wakeup.generation()

    def _wait_postgres(self, timeout: float) -> None:
        try:
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                break
        except Exception:
            logger.warning("lost the LISTEN connection; reconnecting", exc_info=True)
            self.close()
            time.sleep(min(timeout, 1.0))
            self._listener = _listen_connection()

    def drain(self) -> None:
        """Forget the wake-ups already received, without blocking. For a caller about to re-read:
        every commit they announce is visible to that read, so they need not wake it again."""
        if self._listener is None:
            self._generation = _local_wakeup.generation()
            return
        for _ in self._listener.notifies(timeout=0):  # a lost connection raises: the caller starts over
            pass

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None


def _listen_connection() -> Any:
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    listener = psycopg.connect(**params, autocommit=True)
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return listener
