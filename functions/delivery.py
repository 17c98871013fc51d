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
    rows = model.objects.raw(f"{select} WHERE i.id = %s{lock}", [_db_id(invocation_id)])
    return next(iter(rows), None)


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
    rows = Invocation.objects.filter(function_id=invocation.function_id)
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
            rows.filter(started_at__gt=window)
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


# --- finishing ------------------------------------------------------------------------------------
def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    base = settings.FUNCTIONS_RETRY_BASE_MS / 1000
    ceiling = min(settings.FUNCTIONS_RETRY_MAX_SECONDS, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def finish(invocation: Invocation, *, ok: bool, value: Any, error: dict | None, logs: str, retry: bool = True) -> str:
    """Record a run's outcome: succeeded; or (event and schedule triggers) retrying with backoff
    until `max_attempts`, then dead; HTTP invocations fail at once (their caller sees the error).
    `retry=False` ends a failure at once (dead, or failed for HTTP). A run that lost its claim
    meanwhile (the sweep re-ran it) records nothing.

    What a run produced is made storable here, the one place it is written (`storable()`): NUL and
    lone surrogates are replaced. A result or error the database still refuses (or one that is not
    JSON: NaN, too deep) fails the invocation cleanly, once, with `result_not_storable` — it is
    never left `running` for the sweep to re-run as a lost worker."""
    logs = storable_text(logs)
    try:
        value, error = (storable(value), None) if ok else (None, storable(error))
    except NotStorable as problem:
        return _finish_unstorable(invocation, logs, str(problem))
    try:
        return _record(invocation, ok=ok, value=value, error=error, logs=logs, retry=retry)
    except (DataError, ValueError) as problem:  # ValueError: what json.dumps refuses
        logger.warning("the database refused an invocation's outcome: %s", problem,
                       extra={"invocation": str(invocation.pk)})  # fmt: skip
        return _finish_unstorable(invocation, logs, "the database refused it")


def _finish_unstorable(invocation: Invocation, logs: str, why: str) -> str:
    error = {
        "type": "ResultNotStorable",
        "code": InvocationCode.RESULT_NOT_STORABLE,
        "message": f"The invocation's result or error could not be stored ({why}); it is not run again.",
        "traceback": "",
    }
    return _record(invocation, ok=False, value=None, error=error, logs=logs, retry=False)


def _record(invocation: Invocation, *, ok: bool, value: Any, error: dict | None, logs: str, retry: bool) -> str:
    now = timezone.now()
    changes: dict[str, Any] = {
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
