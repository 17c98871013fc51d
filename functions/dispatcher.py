"""The trigger dispatcher: from the event log to invocations, exactly once per (function, handler,
event), never losing an event.

One stored cursor (`DispatchCursor`, a single row) says how far the log has been dispatched. A
dispatch locks that row, reads the next committed events after it (`baas.events.read_after`:
sequence order equals commit order, so nothing can appear behind the cursor later), creates the
invocations of every matching trigger, and moves the cursor past those events — all in one
transaction. A crash before commit leaves neither invocations nor cursor; after commit, both. The
unique constraint (function, handler, event_id) backs this up: even a dispatch from a reset cursor
cannot invoke twice. Messages are sent after commit; one lost there leaves a queued row that the
sweep sends again (functions/delivery.py).

Other consumers ride on the same cursor (`subscribe()`): outgoing webhooks (webhooks/delivery.py)
get each batch of events inside the dispatch transaction and write their own delivery rows there
(sending their messages on commit), so they share this at-least-once guarantee without a second
cursor or a second reader of the log.

Who calls it: the tailer thread of each worker, as soon as events commit (functions/tailer.py),
and the beat tick every second (`functions.tick`), which also catches up whatever a stopped
tailer left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from baas import events
from baas.models import Event
from functions import sending, triggers
from functions.errors import InvocationCode
from functions.models import DispatchCursor, Invocation

logger = logging.getLogger("baas.functions")

# Called with each batch of committed events inside the dispatch transaction (see the docstring).
_subscribers: list[Callable[[list[events.EventRecord]], None]] = []


def subscribe(subscriber: Callable[[list[events.EventRecord]], None]) -> None:
    """Give `subscriber` every batch of events the dispatcher passes, in its transaction."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def dispatch(*, batch: int | None = None, spread: int | None = None) -> int:
    """Dispatch every committed event after the cursor. Returns how many invocations were made.
    `spread`: see `sending.chunks`."""
    return dispatch_counted(batch=batch, spread=spread)[1]


def dispatch_counted(*, batch: int | None = None, spread: int | None = None) -> tuple[int, int]:
    """`dispatch`, returning how many events it passed and how many invocations it made."""
    batch = batch or settings.FUNCTIONS_DISPATCH_BATCH
    passed = total = 0
    while True:
        if not _has_undispatched_events():
            return passed, total  # the common case: no write transaction at all
        created, seen, more = _dispatch_batch(batch)
        sending.run_invocations(created, spread=spread)
        passed, total = passed + seen, total + len(created)
        if not more:
            return passed, total


def _has_undispatched_events() -> bool:
    """One indexed look, in autocommit: is there a committed event after the cursor? (Plain SQL:
    the tailer asks this on every wake-up, and the ORM's query building would cost more.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT 1 FROM "{Event._meta.db_table}" WHERE seq > '
            f'COALESCE((SELECT seq FROM "{DispatchCursor._meta.db_table}" WHERE id = 1), 0) LIMIT 1'
        )
        return cursor.fetchone() is not None


def _locked_cursor() -> DispatchCursor:
    cursor = DispatchCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:
        try:
            with transaction.atomic():
                DispatchCursor.objects.create(pk=1, seq=0)
        except IntegrityError:
            pass  # another dispatcher created it first
        cursor = DispatchCursor.objects.select_for_update().get(pk=1)
    return cursor


def _dispatch_batch(batch: int) -> tuple[list[Any], int, bool]:
    with transaction.atomic():
        cursor = _locked_cursor()
        try:
            records = events.read_after(cursor.seq, limit=batch)
        except events.ResyncRequired:
            horizon = events.pruned_through()
            logger.error(
                "the trigger dispatcher fell behind the event log's retention: events %d..%d were never dispatched",
                cursor.seq + 1,
                horizon,
            )
            cursor.seq = horizon
            cursor.save(update_fields=["seq", "updated_at"])
            return [], 0, True
        if not records:
            return [], 0, False
        invocations = _invocations_for(records)
        Invocation.objects.bulk_create(invocations, ignore_conflicts=True)
        for subscriber in _subscribers:
            subscriber(records)
        cursor.seq = records[-1].seq
        cursor.save(update_fields=["seq", "updated_at"])
    # Grouped by function, in event order within each (a stable sort): a worker message then names
    # invocations of one function, which it claims and runs together (functions/runner.py).
    by_function = sorted(invocations, key=lambda invocation: invocation.function_id)
    queued = [invocation.pk for invocation in by_function if invocation.status == Invocation.QUEUED]
    return queued, len(records), len(records) == batch


def _invocations_for(records: list[events.EventRecord]) -> list[Invocation]:
    table = triggers.table()
    if not table:
        return []
    now = timezone.now()
    made: list[Invocation] = []
    for record in records:
        matches = [match for match in table.get(record.topic, ()) if match.accepts(record)]
        if not matches:
            continue
        payload = triggers.event_payload(record)
        order_key = triggers.order_key(record.topic, record.key)
        for match in matches:
            invocation = Invocation(
                function_id=match.function_id,
                version_id=match.version_id,
                trigger=match.type,
                handler=match.handler,
                event_id=record.event_id,
                event=payload,
                depth=record.depth,
                seq=record.seq,
                order_key=order_key,
                max_attempts=match.max_retries + 1,
                event_at=record.created_at,
                enqueued_at=now,
            )
            if record.depth > settings.FUNCTIONS_MAX_DEPTH:
                _stop_loop(invocation, now)
            made.append(invocation)
    return made


def _stop_loop(invocation: Invocation, now: Any) -> None:
    """A chain of functions triggering functions went too deep: record it, never run it."""
    invocation.status = Invocation.FAILED
    invocation.finished_at = now
    invocation.error = {
        "type": "LoopDetected",
        "code": InvocationCode.LOOP_DETECTED,
        "message": (
            f"Not invoked: this event was caused by a chain of {invocation.depth} function invocations, "
            f"more than FUNCTIONS_MAX_DEPTH ({settings.FUNCTIONS_MAX_DEPTH})."
        ),
        "traceback": "",
        "depth": invocation.depth,
    }
    logger.warning(
        "loop detected: not invoking %s at causation depth %d", invocation.handler, invocation.depth,
        extra={"event": invocation.event_id},
    )  # fmt: skip
