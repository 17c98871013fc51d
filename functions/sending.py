"""Sending the functions' Celery messages: the one way anything asks a worker to run an invocation.

Messages are sent by task *name* (`app.send_task`), so nothing that sends needs the module that
receives (functions/tasks.py, the Celery entry points): the senders — the invoke service, the
dispatcher, delivery (retries, kicks, the sweep), schedules and the sync wait — sit below the
tasks in the import graph instead of around them in a cycle.

A message only says "look at this invocation now"; the database row is the truth
(functions/delivery.py). So a failed send is logged, not raised: the row stays queued and the
sweep sends it again after FUNCTIONS_REQUEUE_SECONDS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from baas.celery import app

logger = logging.getLogger("baas.functions")

RUN_INVOCATION = "functions.run_invocation"
PREWARM = "functions.prewarm"


def run_invocations(invocation_ids: Iterable[Any], *, countdown: float | None = None) -> None:
    """Send one `functions.run_invocation` message per invocation, through one producer (one
    broker connection for the whole batch, not one from the pool per message)."""
    ids = [str(invocation_id) for invocation_id in invocation_ids]
    if not ids:
        return
    try:
        with app.producer_or_acquire() as producer:
            for invocation_id in ids:
                app.send_task(RUN_INVOCATION, (invocation_id,), countdown=countdown or None, producer=producer)
    except Exception:
        logger.warning("could not queue an invocation; the sweep will send it again", exc_info=True)


def run_invocations_on_commit(invocation_ids: Iterable[Any], *, countdown: float | None = None) -> None:
    """`run_invocations` once the current transaction commits (at once outside one): a message
    must never name a row that a rollback removes or that a worker cannot see yet."""
    ids = list(invocation_ids)
    if ids:
        transaction.on_commit(lambda: run_invocations(ids, countdown=countdown))


def prewarm_on_commit(version_id: int) -> None:
    """Ask a worker to start a sandbox for a new version once it is committed, so that its first
    call usually finds a warm one. Best effort: a lost prewarm only costs the first call a start."""

    def send() -> None:
        try:
            app.send_task(PREWARM, (version_id,))
        except Exception:
            logger.warning("could not queue the prewarm of a function version", exc_info=True)

    transaction.on_commit(send)
