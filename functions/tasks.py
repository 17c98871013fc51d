"""Celery entry points of the functions service, and nothing else: each task takes ids only and
calls the module that does the work, which re-loads state. Nobody imports this module to send a
message — senders name the task (functions/sending.py) — so it may import everything it calls.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init, worker_ready
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created

from functions import delivery, dispatcher, runner, schedules, sending, tailer
from functions.sandbox import log_active_isolation, pool

logger = logging.getLogger("baas.functions")


@shared_task(name=sending.RUN_INVOCATION, acks_late=True, reject_on_worker_lost=True)
def run_invocation(invocation_id: str) -> str | None:
    return runner.run_invocation(invocation_id)


@shared_task(name=sending.RUN_INVOCATIONS, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_invocations(invocation_ids: list[str]) -> None:
    """Several invocations, one after the other (functions/sending.py says why they share a message).
    A worker lost in the middle loses nothing: the message comes back (`acks_late`,
    `reject_on_worker_lost`), the finished ones are not claimed again, and the one that was running
    is re-run by the sweep after its deadline."""
    runner.run_invocations(invocation_ids)


@shared_task(name="functions.dispatch", ignore_result=True)
def dispatch() -> int:
    """Turn newly committed events into invocations (a worker's tailer does this as events commit)."""
    return dispatcher.dispatch()


@shared_task(name="functions.tick", ignore_result=True)
def tick() -> dict[str, int]:
    """Every second from beat: catch up on the event log, then sweep lost and waiting invocations."""
    dispatched = dispatcher.dispatch()
    return {"dispatched": dispatched, **delivery.sweep()}


@shared_task(name="functions.fire_schedule", ignore_result=True, bind=True)
def fire_schedule(self: Any, function: str, handler: str, **_: Any) -> None:
    """Sent by beat for a schedule trigger (functions/schedules.py keeps beat's entries in sync)."""
    schedules.fire(function=function, handler=handler, message_id=self.request.id)


@shared_task(name=sending.PREWARM, ignore_result=True)
def prewarm(version_id: int) -> None:
    runner.prewarm(version_id)


@worker_init.connect
def _report_isolation(**_: object) -> None:
    log_active_isolation()


@worker_init.connect
def _worker_sqlite_commits(**_: object) -> None:
    """A worker commits three times per invocation: on SQLite, without an fsync each
    (BAAS_WORKER_SQLITE_SYNCHRONOUS; baas/settings.py says what that risks and why it is safe)."""
    connection_created.connect(_set_sqlite_synchronous, weak=False)
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _set_sqlite_synchronous(connection=connection)


def _set_sqlite_synchronous(*, connection: Any, **_: object) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous={settings.BAAS_WORKER_SQLITE_SYNCHRONOUS}")


@task_prerun.connect
@task_postrun.connect
def _recycle_old_connections(**_: object) -> None:
    """Around each task, what Django does around each request: a connection past CONN_MAX_AGE, in
    a broken state or left inside a transaction is closed (the next query opens a new one); a
    healthy one is kept. Celery's own per-task close is off (CELERY_DB_REUSE_MAX, baas/settings.py),
    so a task no longer pays a new connection (and PostgreSQL a new backend) every time."""
    close_old_connections()


@worker_ready.connect
def _start_dispatch_tailer(**_: object) -> None:
    """Each worker's main process dispatches new events as they commit (functions/tailer.py)."""
    if settings.FUNCTIONS_DISPATCH_IN_WORKER:
        tailer.start()


@worker_process_init.connect
def _fresh_pool(**_: object) -> None:
    """A prefork child must not share its parent's sandboxes (the pool also checks the pid)."""
    pool._pool = None
