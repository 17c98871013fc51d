"""A steady stream of events: the tailer dispatches it in batches (functions/tailer.py), and a worker
keeps its database connections from one task to the next (CELERY_DB_REUSE_MAX, baas/celery.py) —
per event, a dispatch, a message and a new PostgreSQL connection each saturated two cores at
200 events/s (issue #19)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection

from baas.principals import service_principal
from tests.functions.conftest import deploy, wait_for_rows

pytestmark = pytest.mark.slow  # a deploy discovers triggers in a sandbox; a worker process runs them

ON_CREATE = """
from baas_runtime import on_document_created

@on_document_created("ticks")
def tick(event, ctx):
    return event["seq"]
"""
SERVICE = service_principal(name="tests", key_id="k")


def _write(n: int) -> None:
    from documents import services as documents

    documents.create_document(principal=SERVICE, collection="ticks", data={"n": n})


def _wait(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_stream_is_dispatched_in_batches_and_a_lone_event_at_once(functions_api, settings, monkeypatch) -> None:
    from documents import services as documents
    from functions import sending, tailer

    calls: list[tuple[float, list[str]]] = []

    def send(ids: Any, **_: Any) -> None:
        if ids:  # (a dispatch of events no trigger wants sends nothing)
            calls.append((time.monotonic(), list(ids)))

    monkeypatch.setattr(sending, "run_invocations", send)
    assert deploy(functions_api, "stream", ON_CREATE, permissions=["db:read:ticks"]).status_code == 201
    documents.create_collection(name="ticks")
    tailer.stop()
    settings.FUNCTIONS_DISPATCH_COALESCE_MS = 3000
    tailer.start()

    def sent() -> int:
        return sum(len(ids) for _, ids in calls)

    written = time.monotonic()
    _write(0)  # after a quiet spell: dispatched at once, not after the interval
    _wait(lambda: sent() == 1)
    assert calls[0][0] - written < 2.0
    for n in range(1, 11):  # ten transactions right after it: one dispatch takes them all
        _write(n)
    _wait(lambda: sent() == 11)
    assert len(calls) <= 3, [len(ids) for _, ids in calls]


@pytest.mark.postgresql  # counts PostgreSQL sessions (pg_stat_database)
def test_a_worker_keeps_its_database_connections_between_tasks(functions_api, platform) -> None:
    from documents import services as documents
    from functions.models import Invocation

    running = platform(DB_CONN_MAX_AGE="60")
    assert deploy(functions_api, "stream", ON_CREATE, permissions=["db:read:ticks"]).status_code == 201
    documents.create_collection(name="ticks")
    done = Invocation.objects.filter(function__name="stream", status="succeeded")
    for n in range(3):  # warm: every worker thread has run something
        _write(n)
        assert len(wait_for_rows(done, n + 1)) == n + 1, running.text[-3000:]

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    before = sessions()
    for n in range(3, 15):  # twelve tasks, one at a time
        _write(n)
        assert len(wait_for_rows(done, n + 1)) == n + 1, running.text[-3000:]
    # Closing around every task (Celery's default) opened at least one connection per task.
    assert sessions() - before <= 3
