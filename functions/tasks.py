"""Celery tasks of the functions service: they take ids only and re-load state."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_init, worker_process_init

from functions import runner

logger = logging.getLogger("baas.functions")


@shared_task(name="functions.run_invocation", acks_late=True, reject_on_worker_lost=True)
def run_invocation(invocation_id: str) -> str | None:
    return runner.run_invocation(invocation_id)


@shared_task(name="functions.prewarm", ignore_result=True)
def prewarm(version_id: int) -> None:
    runner.prewarm(version_id)


@worker_init.connect
def _report_isolation(**_: object) -> None:
    from functions.sandbox import log_active_isolation

    log_active_isolation()


@worker_process_init.connect
def _fresh_pool(**_: object) -> None:
    """A prefork child must not share its parent's sandboxes (the pool also checks the pid)."""
    from functions.sandbox import pool

    pool._pool = None
