"""Delivering invocations: claim (order, concurrency and rate checks), finish (retry with backoff,
dead), kick the ones that wait, and sweep what a lost message or a dead worker left behind.

The database row is the truth; a Celery message only says "look at this invocation now". So a
message may be lost (the sweep sends another) or duplicated (only one run can claim the row), and
an invocation that must wait is not parked in the broker: the claim records why it waits
(`waiting` = `order` | `concurrency` | `rate`), drops the message, and whoever frees the way — the
run that finishes, or the sweep — sends a new one. `waiting == ""` on a queued row means a
message is in flight since `enqueued_at`.

Locks, always in this order: the function row, then the invocation row (deleting a function
locks them in the same order, so the two never deadlock).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import random
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from baas.errors import Conflict, NotFound
from functions import grants, sending, triggers
from functions.errors import InvocationCode
from functions.models import Function, FunctionVersion, Invocation
from functions.plainsql import fetch_one

logger = logging.getLogger("baas.functions")

KICK_BATCH = 200
SWEEP_BATCH = 500


# --- claiming -------------------------------------------------------------------------------------
# A claim runs for every message, so it is written in a few plain SQL statements: the ORM's query
# building cost more CPU than the database did (~3 ms per claim on this 2-core box).
_INVOCATIONS = Invocation._meta.db_table
_FUNCTIONS = Function._meta.db_table


def claim(invocation_id: Any) -> Invocation | None:
    """Mark a queued (or retry-due) invocation running and return it, or record why it must wait
    and return None. None too for an unknown or already claimed invocation (a duplicate message)."""
    send_later: float | None = None
    with transaction.atomic():
        function = _lock_function_of(invocation_id)
        if function is None:
            return None  # an unknown invocation (or its function was deleted)
        invocation = _lock_invocation(invocation_id)
        if invocation is None or invocation.status not in (Invocation.QUEUED, Invocation.RETRYING):
            return None
        invocation.function = function
        invocation.version = _version(invocation)
        invocation.version.function = function
        now = timezone.now()
        if invocation.not_before and invocation.not_before > now + timedelta(milliseconds=20):
            if invocation.waiting:
                return None  # the sweep sends it when due
            send_later = (invocation.not_before - now).total_seconds()  # an early duplicate: come back then
        else:
            if _must_wait(invocation, now):
                return None
            # Its start is now, after the checks: the check of earlier runs of the same document
            # saw them finished, so this start comes after their recorded finish, also in the rows.
            _mark_running(invocation, timezone.now())
            return invocation
    if send_later is not None:
        sending.run_invocations([invocation_id], countdown=send_later)
    return None


def _lock_function_of(invocation_id: Any) -> Function | None:
    """The invocation's function, its row locked first (the order of the module docstring): this
    serializes the claims of one function, so that the concurrency count cannot race. SQLite has
    no row locks; its write transaction (BEGIN IMMEDIATE) already admits one claim at a time."""
    select = f'SELECT f.id, f.name FROM "{_FUNCTIONS}" f JOIN "{_INVOCATIONS}" i ON i.function_id = f.id'
    return _locked_by_invocation(Function, select, "f", invocation_id)


def _lock_invocation(invocation_id: Any) -> Invocation | None:
    """The invocation row, locked, with its version's creation time (the version cache's check)."""
    select = (
        f'SELECT i.*, v.created_at AS version_created_at FROM "{_INVOCATIONS}" i '
        f'JOIN "{FunctionVersion._meta.db_table}" v ON v.id = i.version_id'
    )
    return _locked_by_invocation(Invocation, select, "i", invocation_id)


def _locked_by_invocation(model: Any, select: str, locked_alias: str, invocation_id: Any) -> Any:
    """The one row of `select` (which joins the invocations as `i`) for this invocation, the rows
    of `locked_alias` locked where the database has row locks."""
    lock = f" FOR UPDATE OF {locked_alias}" if connection.features.has_select_for_update_of else ""
    return fetch_one(model, f"{select} WHERE i.id = %s{lock}", [_db_id(invocation_id)])


def _db_id(invocation_id: Any) -> Any:
    if not isinstance(invocation_id, uuid.UUID):
        invocation_id = uuid.UUID(str(invocation_id))
    return Invocation._meta.pk.get_db_prep_value(invocation_id, connection)


@functools.lru_cache(maxsize=256)
def _cached_version(version_id: int, created_at: Any) -> FunctionVersion:
    return FunctionVersion.objects.defer("bundle").get(pk=version_id)


def _version(invocation: Invocation) -> FunctionVersion:
    """The invocation's version without its bundle (read only if this worker has no copy of the
    code yet). Versions never change after creation, so each process keeps the ones it ran, keyed
    by id and creation time (an id reused after a database restore is another version); every
    invocation gets a copy of its own (the runner attaches the function, may load the bundle)."""
    return copy.copy(_cached_version(invocation.version_id, invocation.version_created_at))


def _mark_running(invocation: Invocation, now: Any) -> None:
    invocation.status = Invocation.RUNNING
    invocation.attempts += 1
    invocation.started_at = now
    invocation.deadline = now + timedelta(seconds=invocation.version.timeout + settings.FUNCTIONS_RUNNING_GRACE_SECONDS)
    invocation.waiting = Invocation.NOT_WAITING
    if invocation.queue_delay_ms is None and invocation.event_at is not None:
        invocation.queue_delay_ms = max(0, int((now - invocation.event_at).total_seconds() * 1000))
    _update_row(invocation, ["status", "attempts", "started_at", "deadline", "waiting", "queue_delay_ms"])


def _update_row(invocation: Invocation, fields: list[str]) -> None:
    """UPDATE these columns of the invocation's row from the instance, in one plain statement."""
    _update_where(invocation.pk, {name: getattr(invocation, name) for name in fields})


def _update_where(invocation_id: Any, changes: dict[str, Any], **expected: Any) -> int:
    """UPDATE an invocation's row with `changes` if its columns still hold the `expected` values;
    returns how many rows changed (0 or 1)."""

    def prepared(values: dict[str, Any]) -> tuple[list[str], list[Any]]:
        columns, params = [], []
        for name, value in values.items():
            field = Invocation._meta.get_field(name)
            columns.append(f'"{field.column}" = %s')
            params.append(field.get_db_prep_save(value, connection))
        return columns, params

    assignments, params = prepared(changes)
    conditions, expected_params = prepared(expected)
    where = " AND ".join(["id = %s", *conditions])
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{_INVOCATIONS}" SET {", ".join(assignments)} WHERE {where}',
            [*params, _db_id(invocation_id), *expected_params],
        )
        return cursor.rowcount


# An earlier event of the same document (or object) is still unfinished for this function.
_EARLIER_UNFINISHED = (
    f'SELECT 1 FROM "{_INVOCATIONS}" WHERE function_id = %s AND order_key = %s AND seq < %s '
    "AND status IN (%s, %s, %s) AND id <> %s LIMIT 1"
)
# How many run now, counted no further than the limit.
_RUNNING_COUNT = (
    f'SELECT COUNT(*) FROM (SELECT 1 FROM "{_INVOCATIONS}" WHERE function_id = %s AND status = %s LIMIT %s) AS running'
)


def _must_wait(invocation: Invocation, now: Any) -> str:
    """Why this invocation cannot start now ("" if it can); records the reason on the row."""
    reason, not_before = "", None
    version = invocation.version
    with connection.cursor() as cursor:
        if invocation.order_key and invocation.seq is not None:
            cursor.execute(_EARLIER_UNFINISHED, [invocation.function_id, invocation.order_key, invocation.seq,
                                                 *Invocation.UNFINISHED, _db_id(invocation.pk)])  # fmt: skip
            if cursor.fetchone():
                reason = Invocation.WAIT_ORDER
        if not reason and version.concurrency:
            cursor.execute(_RUNNING_COUNT, [invocation.function_id, Invocation.RUNNING, version.concurrency])
            if cursor.fetchone()[0] >= version.concurrency:
                reason = Invocation.WAIT_CONCURRENCY
    if not reason and version.rate_per_minute:
        window = now - timedelta(seconds=60)
        recent = list(
            Invocation.objects.filter(function_id=invocation.function_id, started_at__gt=window)
            .order_by("-started_at")
            .values_list("started_at", flat=True)[: version.rate_per_minute]
        )
        if len(recent) >= version.rate_per_minute:
            reason = Invocation.WAIT_RATE
            not_before = recent[-1] + timedelta(seconds=60)
    if reason:
        invocation.waiting = reason
        fields = ["waiting"]
        if not_before is not None:
            invocation.not_before = not_before
            fields.append("not_before")
        _update_row(invocation, fields)
    return reason


# --- claiming several -----------------------------------------------------------------------------
# A worker message may name several invocations (functions/sending.py). Claiming and recording
# them one by one costs about ten database round trips each — under a backlog that, not the
# function, is what bounds the throughput. So a worker claims a *round* of them in one transaction
# (the same checks as `claim`, made once for the round) and records the successes of a round in
# one statement.


@dataclass
class Round:
    """Invocations claimed together: one function, one version, marked running with one deadline
    (which also identifies this claim: a takeover by the sweep clears or replaces it)."""

    invocations: list[Invocation]
    deadline: Any


def claim_round(invocation_ids: list[Any], *, limit: int) -> tuple[Round | None, list[Any]]:
    """Claim up to `limit` of these invocations: those of the first one's function and version
    that may start now, in event order. Returns the round (None if none can start as part of one)
    and the ids left for later rounds: other functions or versions, a later event of a document
    whose earlier one is in this round, those beyond the limit or the free concurrency, and — first
    in the list — the first id itself if it must be claimed alone (a rate-limited function: its
    quota is checked per start, by `claim`). Those that must wait record why, as with `claim`;
    unknown, finished or already claimed ones are dropped."""
    if not invocation_ids:
        return None, []
    first = invocation_ids[0]
    send_later: list[tuple[Any, float]] = []
    round_: Round | None = None
    later: list[Any] = []
    with transaction.atomic():
        function = _lock_function_of(first)
        if function is None:
            return None, invocation_ids[1:]  # unknown (or its function was deleted)
        rows = _lock_invocations(function.pk, invocation_ids)
        now = timezone.now()
        candidates: list[Invocation] = []
        for row in rows:
            if row.version_id != rows[0].version_id:
                later.append(row.pk)
            elif row.not_before and row.not_before > now + timedelta(milliseconds=20):
                if not row.waiting:  # an early duplicate of a retry: come back when it is due
                    send_later.append((row.pk, (row.not_before - now).total_seconds()))
            else:
                candidates.append(row)
        if candidates:
            version = _version(candidates[0])
            version.function = function
            if version.rate_per_minute:
                later = [row.pk for row in candidates] + later
            else:
                claimed, deferred = _startable(function.pk, version, candidates, limit)
                later.extend(deferred)
                if claimed:
                    round_ = _mark_round_running(function, version, claimed, now)
    for invocation_id, countdown in send_later:
        sending.run_invocations([invocation_id], countdown=countdown)
    # Every id of this function was looked at under its lock: what is not in `later` is done with.
    looked_at = {_key(row.pk) for row in rows} | {_key(first)}
    return round_, [*later, *(i for i in invocation_ids if _key(i) not in looked_at)]


def _key(invocation_id: Any) -> str:
    return str(invocation_id)


def _lock_invocations(function_id: int, invocation_ids: list[Any]) -> list[Invocation]:
    """The queued (or retrying) invocations among these ids that belong to the function, locked,
    in event order, each with its version's creation time."""
    marks = ", ".join(["%s"] * len(invocation_ids))
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
    rows = Invocation.objects.raw(
        f'SELECT i.*, v.created_at AS version_created_at FROM "{_INVOCATIONS}" i '
        f'JOIN "{FunctionVersion._meta.db_table}" v ON v.id = i.version_id '
        f"WHERE i.id IN ({marks}) AND i.function_id = %s AND i.status IN (%s, %s) ORDER BY i.seq, i.created_at{lock}",
        [*(_db_id(i) for i in invocation_ids), function_id, Invocation.QUEUED, Invocation.RETRYING],
    )
    return list(rows)


# The earliest unfinished invocation of each of these documents (order keys), leaving out some ids.
def _earliest_unfinished_sql(keys: int, excluded: int) -> str:
    return (
        f'SELECT order_key, MIN(seq) FROM "{_INVOCATIONS}" WHERE function_id = %s '
        f"AND order_key IN ({', '.join(['%s'] * keys)}) AND status IN (%s, %s, %s) "
        f"AND id NOT IN ({', '.join(['%s'] * excluded)}) GROUP BY order_key"
    )


def _startable(
    function_id: int, version: FunctionVersion, candidates: list[Invocation], limit: int
) -> tuple[list[Invocation], list[Any]]:
    """Which candidates start now (in order) and which are left for a later round. Those that must
    wait (an earlier event of their document unfinished elsewhere, or no free concurrency) record
    why and are neither."""
    keys = sorted({row.order_key for row in candidates if row.order_key and row.seq is not None})
    earliest: dict[str, int] = {}
    with connection.cursor() as cursor:
        if keys:
            ids = [_db_id(row.pk) for row in candidates]
            cursor.execute(
                _earliest_unfinished_sql(len(keys), len(ids)),
                [function_id, *keys, *Invocation.UNFINISHED, *ids],
            )
            earliest = dict(cursor.fetchall())
        room = limit
        if version.concurrency:
            cursor.execute(_RUNNING_COUNT, [function_id, Invocation.RUNNING, version.concurrency])
            room = min(limit, version.concurrency - cursor.fetchone()[0])
    claimed: list[Invocation] = []
    deferred: list[Any] = []
    waits: dict[str, list[Any]] = {Invocation.WAIT_ORDER: [], Invocation.WAIT_CONCURRENCY: []}
    seen_keys: set[str] = set()
    for row in candidates:
        if row.order_key and row.seq is not None:
            if row.order_key in seen_keys:
                deferred.append(row.pk)  # after the earlier one of its document in this round
                continue
            seen_keys.add(row.order_key)
            if earliest.get(row.order_key, row.seq) < row.seq:
                waits[Invocation.WAIT_ORDER].append(row.pk)
                continue
        if len(claimed) >= max(room, 0):
            if room <= 0:
                waits[Invocation.WAIT_CONCURRENCY].append(row.pk)
            else:
                deferred.append(row.pk)
            continue
        claimed.append(row)
    for reason, ids in waits.items():
        if ids:
            Invocation.objects.filter(pk__in=ids).update(waiting=reason)
    return claimed, deferred


def _mark_round_running(function: Function, version: FunctionVersion, rows: list[Invocation], now: Any) -> Round:
    deadline = now + timedelta(seconds=version.timeout + settings.FUNCTIONS_RUNNING_GRACE_SECONDS)
    params = []
    for row in rows:
        row.function = function
        row.version = copy.copy(version)
        row.status = Invocation.RUNNING
        row.attempts += 1
        row.started_at = now
        row.deadline = deadline
        row.waiting = Invocation.NOT_WAITING
        if row.queue_delay_ms is None and row.event_at is not None:
            row.queue_delay_ms = max(0, int((now - row.event_at).total_seconds() * 1000))
        params.append([*_prepared(row, _RUNNING_FIELDS), _db_id(row.pk)])
    with connection.cursor() as cursor:
        cursor.executemany(_RUNNING_UPDATE, params)
    return Round(invocations=rows, deadline=deadline)


_RUNNING_FIELDS = ["status", "attempts", "started_at", "deadline", "waiting", "queue_delay_ms"]


def _field(name: str) -> Any:
    return Invocation._meta.get_field(name)


def _prepared(row: Invocation, fields: list[str]) -> list[Any]:
    return [_field(name).get_db_prep_save(getattr(row, name), connection) for name in fields]


def _assignments(fields: list[str]) -> str:
    return ", ".join(f'"{_field(name).column}" = %s' for name in fields)


_RUNNING_UPDATE = f'UPDATE "{_INVOCATIONS}" SET {_assignments(_RUNNING_FIELDS)} WHERE id = %s'


def keep_round(round_: Round, rows: list[Invocation]) -> list[Invocation]:
    """Before the next run of a round: if its deadline is nearer than that run's timeout plus half
    the grace, move the deadline of these rows (the round's unrecorded ones) forward, so that a
    live run is never taken for a lost one. Returns the rows still ours (the sweep may have taken
    some over after a long stall)."""
    now = timezone.now()
    version = rows[0].version if rows else None
    if version is None:
        return rows
    margin = timedelta(seconds=version.timeout + settings.FUNCTIONS_RUNNING_GRACE_SECONDS / 2)
    if round_.deadline - now >= margin:
        return rows
    deadline = now + timedelta(seconds=version.timeout + settings.FUNCTIONS_RUNNING_GRACE_SECONDS)
    deadline_field = _field("deadline")
    marks = ", ".join(["%s"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{_INVOCATIONS}" SET deadline = %s WHERE status = %s AND deadline = %s AND id IN ({marks}) '
            "RETURNING id",
            [deadline_field.get_db_prep_save(deadline, connection), Invocation.RUNNING,
             deadline_field.get_db_prep_save(round_.deadline, connection), *(_db_id(row.pk) for row in rows)],
        )  # fmt: skip
        ours = {_key(Invocation._meta.pk.to_python(found)) for (found,) in cursor.fetchall()}
    round_.deadline = deadline
    for row in rows:
        row.deadline = deadline
    return [row for row in rows if _key(row.pk) in ours]


def finish_succeeded(rows: list[tuple[Invocation, Any, str, bool | None]]) -> int:
    """Record successful runs of a round in one statement: (invocation, value, logs, cold start)
    each. The caller has made the values storable. A row the sweep took over meanwhile is left as
    it is. Returns how many were recorded."""
    if not rows:
        return 0
    now = timezone.now()
    params = []
    for invocation, value, logs, cold in rows:
        invocation.finished_at = now
        invocation.duration_ms = int((now - (invocation.started_at or now)).total_seconds() * 1000)
        invocation.logs, invocation.result, invocation.error = logs, value, None
        invocation.deadline, invocation.cold_start = None, cold
        prepared = _prepared(invocation, _SUCCEEDED_FIELDS)
        params.append([*prepared, _db_id(invocation.pk), Invocation.RUNNING, invocation.attempts])
    with connection.cursor() as cursor:
        cursor.executemany(_SUCCEEDED_UPDATE, params)
        recorded = cursor.rowcount
    for invocation, *_ in rows:
        invocation.status = Invocation.SUCCEEDED
    if 0 <= recorded < len(rows):
        logger.warning("%d runs finished after their invocations were taken over", len(rows) - recorded)
    if _has_waiting(rows[0][0].function_id):
        kick(rows[0][0].function_id)
    return recorded


_SUCCEEDED_FIELDS = ["finished_at", "duration_ms", "logs", "result", "error", "deadline", "cold_start"]
_SUCCEEDED_UPDATE = (
    f"UPDATE \"{_INVOCATIONS}\" SET status = '{Invocation.SUCCEEDED}', {_assignments(_SUCCEEDED_FIELDS)} "
    "WHERE id = %s AND status = %s AND attempts = %s"
)


# --- finishing ------------------------------------------------------------------------------------
def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    base = settings.FUNCTIONS_RETRY_BASE_MS / 1000
    ceiling = min(settings.FUNCTIONS_RETRY_MAX_SECONDS, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def finish(
    invocation: Invocation,
    *,
    ok: bool,
    value: Any,
    error: dict | None,
    logs: str,
    retry: bool = True,
    cold_start: bool | None = None,
) -> str:
    """Record a run's outcome: succeeded; or (event and schedule triggers) retrying with backoff
    until `max_attempts`, then dead; HTTP invocations fail at once (their caller sees the error).
    `retry=False` ends a failure at once (dead, or failed for HTTP). `cold_start` says whether
    the run needed a new sandbox (None: no sandbox was asked for). A run that lost its claim
    meanwhile (the sweep re-ran it) records nothing.

    What a run produced is made storable here, the one place it is written (`storable()`): NUL and
    lone surrogates are replaced. A result or error the database still refuses (or one that is not
    JSON: NaN, too deep) fails the invocation cleanly, once, with `result_not_storable` — it is
    never left `running` for the sweep to re-run as a lost worker."""
    logs = storable_text(logs)
    try:
        value, error = (storable(value), None) if ok else (None, storable(error))
    except NotStorable as problem:
        return _finish_unstorable(invocation, logs, str(problem), cold_start)
    try:
        return _record(invocation, ok=ok, value=value, error=error, logs=logs, retry=retry, cold_start=cold_start)
    except (DataError, ValueError) as problem:  # ValueError: what json.dumps refuses
        logger.warning("the database refused an invocation's outcome: %s", problem,
                       extra={"invocation": str(invocation.pk)})  # fmt: skip
        return _finish_unstorable(invocation, logs, "the database refused it", cold_start)


def _finish_unstorable(invocation: Invocation, logs: str, why: str, cold_start: bool | None = None) -> str:
    error = {
        "type": "ResultNotStorable",
        "code": InvocationCode.RESULT_NOT_STORABLE,
        "message": f"The invocation's result or error could not be stored ({why}); it is not run again.",
        "traceback": "",
    }
    return _record(invocation, ok=False, value=None, error=error, logs=logs, retry=False, cold_start=cold_start)


def _record(
    invocation: Invocation, *, ok: bool, value: Any, error: dict | None, logs: str, retry: bool, cold_start: bool | None
) -> str:
    now = timezone.now()
    changes: dict[str, Any] = {
        "cold_start": cold_start,
        "finished_at": now,
        "duration_ms": int((now - invocation.started_at).total_seconds() * 1000),
        "logs": logs,
        "result": value if ok else None,
        "error": None if ok else error,
        "deadline": None,
    }
    retry_in = None
    if ok:
        changes["status"] = Invocation.SUCCEEDED
    elif invocation.trigger == "http":
        changes["status"] = Invocation.FAILED
    elif retry and invocation.attempts < invocation.max_attempts:
        retry_in = backoff_seconds(invocation.attempts)
        changes.update(
            status=Invocation.RETRYING,
            not_before=now + timedelta(seconds=retry_in),
            enqueued_at=now + timedelta(seconds=retry_in),
            waiting=Invocation.NOT_WAITING,
        )
    else:
        changes["status"] = Invocation.DEAD
    with transaction.atomic():
        updated = _update_where(invocation.pk, changes, status=Invocation.RUNNING, attempts=invocation.attempts)
        if updated and retry_in is not None:
            sending.run_invocations_on_commit([invocation.pk], countdown=retry_in)
    if not updated:
        logger.warning("a run finished after its invocation was taken over", extra={"invocation": str(invocation.pk)})
        return invocation.status
    for name, value_ in changes.items():
        setattr(invocation, name, value_)
    if invocation.status == Invocation.DEAD:
        log_dead(invocation)
    if _has_waiting(invocation.function_id):  # a cheap read first: most finishes have nobody to kick
        kick(invocation.function_id)
    return invocation.status


def log_dead(invocation: Invocation) -> None:
    """An operator must hear of an event given up on: a WARNING naming the function, its version,
    the event and the error's code (the invocation keeps the rest for `retry`)."""
    code = (invocation.error or {}).get("code", "")
    logger.warning(
        "invocation dead after %s attempt(s): %s %s v%s, event %s, error %s",
        invocation.attempts,
        invocation.trigger,
        invocation.function.name,
        invocation.version.number,
        invocation.event_id or "-",
        code or "-",
        extra={
            "invocation": str(invocation.pk),
            "function": invocation.function.name,
            "version": invocation.version.number,
            "event": invocation.event_id,
            "seq": invocation.seq,
            "error_code": code,
        },
    )


# --- what can be stored ---------------------------------------------------------------------------
# PostgreSQL's text and jsonb refuse NUL, and jsonb refuses lone UTF-16 surrogates (`"\ud800"`);
# SQLite stores them, and then rendering them fails. Both become U+FFFD, on every database alike.
_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
MAX_RESULT_DEPTH = 64


class NotStorable(ValueError):
    """A run's result or error is not JSON the platform can keep (NaN, infinity, too deep)."""


def storable_text(text: str) -> str:
    return _UNSTORABLE_CHARACTERS.sub("\ufffd", text) if text else text


def storable(value: Any, depth: int = 0) -> Any:
    """`value` with NUL and lone surrogates replaced in every string (keys too). Raises NotStorable."""
    if depth > MAX_RESULT_DEPTH:
        raise NotStorable(f"nested deeper than {MAX_RESULT_DEPTH} levels")
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise NotStorable(f"{value} is not a JSON number")
    if isinstance(value, dict):
        return {storable_text(str(key)): storable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item, depth + 1) for item in value]
    return value


def _has_waiting(function_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_ANY_WAITING, [function_id, Invocation.QUEUED, Invocation.RETRYING, Invocation.NOT_WAITING])
        return cursor.fetchone() is not None


_ANY_WAITING = f'SELECT 1 FROM "{_INVOCATIONS}" WHERE function_id = %s AND status IN (%s, %s) AND waiting <> %s LIMIT 1'


def kick(function_id: int, *, limit: int = KICK_BATCH) -> int:
    """Send messages for invocations of a function that wait and may be able to start now (at most
    as many as it has free concurrency). Returns how many were sent."""
    with transaction.atomic():
        # Taken after the finishing run committed: a claim deciding to wait either saw that run
        # finished, or committed its `waiting` before this query (see the module docstring).
        function = Function.objects.select_for_update().filter(pk=function_id).first()
        if function is None:
            return 0
        concurrency = (
            FunctionVersion.objects.filter(pk=function.active_version_id).values_list("concurrency", flat=True).first()
        )
        room = limit
        if concurrency:
            running = Invocation.objects.filter(function_id=function_id, status=Invocation.RUNNING).count()
            room = min(limit, max(0, concurrency - running))
        if room <= 0:
            return 0
        now = timezone.now()
        ids = list(
            Invocation.objects.filter(function_id=function_id, status__in=(Invocation.QUEUED, Invocation.RETRYING))
            .exclude(waiting=Invocation.NOT_WAITING)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("created_at", "seq")
            .values_list("pk", flat=True)[:room]
        )
        if not ids:
            return 0
        Invocation.objects.filter(pk__in=ids).update(waiting=Invocation.NOT_WAITING, enqueued_at=now)
        sending.run_invocations_on_commit(ids)
    return len(ids)


# --- the sweep ------------------------------------------------------------------------------------
def sweep() -> dict[str, int]:
    """Re-run what was lost: runs past their deadline (a killed worker), queued invocations whose
    message is older than FUNCTIONS_REQUEUE_SECONDS (a lost message), and waiting invocations
    whose reason may be gone. Runs every tick (beat); safe to run anywhere, any number of times."""
    now = timezone.now()
    report = {"lost_runs": 0, "resent": 0, "kicked": 0}
    lost = list(
        Invocation.objects.filter(status=Invocation.RUNNING, deadline__lt=now).values_list("pk", flat=True)[
            :SWEEP_BATCH
        ]
    )
    for invocation_id in lost:
        report["lost_runs"] += _recover_lost_run(invocation_id, now)

    stale = now - timedelta(seconds=settings.FUNCTIONS_REQUEUE_SECONDS)
    # Under a backlog, old messages are simply still waiting in the broker: sending them again would
    # only add load. The queue is first in, first out, so a message is presumed lost only when a
    # later-sent one has already started (or when nothing at all has started for a while).
    overtaken = Invocation.objects.filter(started_at__gte=stale).aggregate(latest=Max("enqueued_at"))["latest"]
    with transaction.atomic():
        candidates = Invocation.objects.select_for_update(skip_locked=True).filter(  # one sender per row
            status__in=(Invocation.QUEUED, Invocation.RETRYING),
            waiting=Invocation.NOT_WAITING,
            enqueued_at__lt=stale,
        )
        if overtaken is not None:
            candidates = candidates.filter(enqueued_at__lt=overtaken - timedelta(seconds=1))
        ids = list(
            candidates.filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("enqueued_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if ids:
            Invocation.objects.filter(pk__in=ids).update(enqueued_at=now)
            sending.run_invocations_on_commit(ids)
    report["resent"] = len(ids)
    if ids:
        logger.warning("sent %d queued invocations again (lost messages?)", len(ids))

    waiting_functions = (
        Invocation.objects.filter(status__in=(Invocation.QUEUED, Invocation.RETRYING))
        .exclude(waiting=Invocation.NOT_WAITING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .values_list("function_id", flat=True)
        .distinct()
    )
    for function_id in list(waiting_functions):
        report["kicked"] += kick(function_id)
    return report


def _recover_lost_run(invocation_id: Any, now: Any) -> int:
    with transaction.atomic():
        function_id = Invocation.objects.filter(pk=invocation_id).values_list("function_id", flat=True).first()
        Function.objects.select_for_update().filter(pk=function_id).first()
        invocation = Invocation.objects.select_for_update().filter(pk=invocation_id).first()
        if invocation is None or invocation.status != Invocation.RUNNING or not invocation.deadline:
            return 0
        if invocation.deadline >= now:
            return 0
        error = {
            "type": "WorkerLost",
            "code": InvocationCode.WORKER_LOST,
            "message": "The worker running this invocation stopped before it finished.",
            "traceback": "",
        }
        allowed = max(invocation.max_attempts, settings.FUNCTIONS_WORKER_LOST_ATTEMPTS)
        invocation.error = error
        invocation.deadline = None
        invocation.finished_at = now
        if invocation.attempts < allowed:
            invocation.status = Invocation.QUEUED
            invocation.max_attempts = max(invocation.max_attempts, invocation.attempts + 1)
            invocation.waiting = Invocation.NOT_WAITING
            invocation.enqueued_at = now
            invocation.not_before = None
            sending.run_invocations_on_commit([invocation.pk])
        else:
            invocation.status = Invocation.DEAD
        invocation.save(
            update_fields=["status", "error", "deadline", "finished_at", "max_attempts", "waiting", "enqueued_at",
                           "not_before"]
        )  # fmt: skip
        if invocation.status == Invocation.DEAD:
            log_dead(invocation)
    logger.warning(
        "invocation lost with its worker: %s", "re-running" if invocation.status == Invocation.QUEUED else "dead",
        extra={"invocation": str(invocation_id)},
    )  # fmt: skip
    return 1


# --- retry by hand --------------------------------------------------------------------------------
def retry(invocation_id: Any) -> Invocation:
    """Queue a dead or failed invocation again, with a fresh round of `max_retries`. It runs the
    function's active version (a fix deployed after the failure applies), which must still have
    the handler. Raises NotFound / Conflict."""
    with transaction.atomic():
        function_id = Invocation.objects.filter(pk=invocation_id).values_list("function_id", flat=True).first()
        function = (
            Function.objects.select_for_update(of=("self",))
            .select_related("active_version")
            .filter(pk=function_id)
            .first()
        )
        invocation = Invocation.objects.select_for_update().filter(pk=invocation_id).first()
        if invocation is None or function is None:
            raise NotFound("There is no such invocation.")
        if invocation.status not in (Invocation.DEAD, Invocation.FAILED):
            raise Conflict(f"Only a dead or failed invocation can be retried; this one is {invocation.status}.")
        version = function.active_version
        if version is None or not any(t.get("handler") == invocation.handler for t in version.triggers):
            raise Conflict(f"The active version of {function.name!r} has no handler {invocation.handler!r}.")
        needed = triggers.grant_for_event(invocation.event or {})
        if needed and not grants.allows(version.permissions, *needed):
            raise Conflict(
                f"The active version of {function.name!r} lacks the permission {':'.join(needed)!r} "
                "to receive this event."
            )
        now = timezone.now()
        invocation.version = version
        invocation.status = Invocation.QUEUED
        invocation.max_attempts = invocation.attempts + version.max_retries + 1
        invocation.not_before = None
        invocation.waiting = Invocation.NOT_WAITING
        invocation.enqueued_at = now
        invocation.deadline = None
        invocation.save(
            update_fields=["version", "status", "max_attempts", "not_before", "waiting", "enqueued_at", "deadline"]
        )
        sending.run_invocations_on_commit([invocation.pk])
    return Invocation.objects.select_related("function", "version").get(pk=invocation_id)
