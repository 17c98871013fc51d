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
import math
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction

from baas.celery import app

logger = logging.getLogger("baas.functions")

RUN_INVOCATION = "functions.run_invocation"
RUN_INVOCATIONS = "functions.run_invocations"
PREWARM = "functions.prewarm"


def run_invocations(
    invocation_ids: Iterable[Any], *, countdown: float | None = None, spread: int | None = None
) -> None:
    """Ask workers to run these invocations, through one producer (one broker connection for the
    whole batch, not one from the pool per message). One invocation goes as `run_invocation`;
    more go as `run_invocations` messages of several ids each (`chunks`), which a worker runs one
    after the other: a message costs more CPU (publish, receive, Celery's task machinery) than
    running a warm trivial function, so under a backlog this is most of the throughput."""
    ids = [str(invocation_id) for invocation_id in invocation_ids]
    if not ids:
        return
    try:
        with app.producer_or_acquire() as producer:
            for chunk in chunks(ids, spread=spread):
                if len(chunk) == 1:
                    app.send_task(RUN_INVOCATION, (chunk[0],), countdown=countdown or None, producer=producer)
                else:
                    app.send_task(RUN_INVOCATIONS, (chunk,), countdown=countdown or None, producer=producer)
    except Exception:
        logger.warning("could not queue an invocation; the sweep will send it again", exc_info=True)


def chunks(ids: list[str], *, spread: int | None = None) -> list[list[str]]:
    """Split the ids into messages: at most FUNCTIONS_RUN_BATCH ids each, and at least `spread`
    (default FUNCTIONS_RUN_SPREAD) messages while there are enough ids, so that a small batch of
    slow invocations still spreads over the workers instead of queueing behind one. The tailer of
    a worker passes its pool size: under a stream it dispatches every few ms anyway, so the next
    batch reaches the other workers, and a message per invocation would cost more than the runs
    (functions/tailer.py). The order is kept (the dispatcher's ids are in event order: a worker
    then runs a document's events in order)."""
    spread = spread or settings.FUNCTIONS_RUN_SPREAD
    size = max(1, min(settings.FUNCTIONS_RUN_BATCH, math.ceil(len(ids) / spread)))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


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
