"""What keeps a warm synchronous invoke cheap (issue #19), kept as strict as what it replaced:

- a wait reads its row once, after the wake-up — so a wake-up that came before the wait registered
  must not be lost, and a wake-up for nothing (a lost LISTEN connection) must not end the wait;
- the plain SQL of the hot path (functions/plainsql.py) builds the same rows as the ORM;
- a worker keeps its database connection from one task to the next (Celery's Django fixup would
  close it around every task), yet drops a broken one, as Django does around a request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from functions import plainsql, waiting
from functions.models import Function, FunctionVersion, Invocation

pytestmark = pytest.mark.django_db(transaction=True)


def _invocation(status: str = Invocation.QUEUED) -> Invocation:
    function = Function.objects.create(name=f"f{uuid.uuid4().hex[:8]}")
    version = FunctionVersion.objects.create(
        function=function, number=3, digest="d", bundle=b"zip", timeout=5, memory=128, triggers=[{"type": "http"}]
    )
    now = timezone.now()
    return Invocation.objects.create(
        function=function,
        version=version,
        trigger="http",
        handler="ping",
        event={"payload": {"n": [1, "two", None]}, "auth": None},
        status=status,
        result={"ok": "é\u2028"} if status == Invocation.SUCCEEDED else None,
        event_at=now,
        enqueued_at=now,
    )


def _finish(invocation_id: Any) -> None:
    Invocation.objects.filter(pk=invocation_id).update(status=Invocation.SUCCEEDED, result=7)
    waiting.announce_finished(invocation_id)


async def _waker() -> Any:
    return await waiting._listener() or waiting._poller()


def _wait(scenario: Any) -> Any:
    """Run `scenario(run)` on a fresh event loop, its database work on a thread of its own whose
    connection is closed at the end (like `wait_for`), the loop's listener closed too."""

    async def main() -> Any:
        with waiting._OwnThread() as own:
            try:
                return await scenario(own.run)
            finally:
                listener = waiting._listeners.pop(id(asyncio.get_running_loop()), None)
                if listener is not None:
                    await listener._connection.close()

    return asyncio.run(main())


def test_a_wake_up_heard_before_the_wait_registered_is_not_lost() -> None:
    """The ASGI wait skips its first read of the row when its waker was listening before the
    invocation was committed; the worker may still finish before the wait registers."""
    invocation = _invocation()

    async def scenario(run: Any) -> tuple[Invocation, float]:
        waker = await _waker()
        since = time.monotonic()  # "before the commit": the waker listens already
        await run(_finish, invocation.pk)
        await asyncio.sleep(0.3)  # the wake-up has come (and gone) before the wait registers
        started = time.monotonic()
        row = await waiting.wait_finished(invocation.pk, 10, run=run, waker=waker, since=since)
        return row, time.monotonic() - started

    row, took = _wait(scenario)
    assert row.status == Invocation.SUCCEEDED and row.result == 7
    # Lost, it would have waited for the once-a-second check.
    assert took < waiting.CHECK_EVERY / 2, took


def test_a_wake_up_for_nothing_does_not_end_the_wait() -> None:
    """A lost LISTEN connection wakes every wait: each reads its row and waits on while it is not
    finished, instead of answering with the unfinished row."""
    invocation = _invocation()

    async def scenario(run: Any) -> Invocation:
        waker = await _waker()
        waited = asyncio.ensure_future(
            waiting.wait_finished(invocation.pk, 10, run=run, waker=waker, since=time.monotonic())
        )
        await asyncio.sleep(0.2)
        waker.wake_all()
        await asyncio.sleep(0.3)
        assert not waited.done()
        await run(_finish, invocation.pk)
        return await asyncio.wait_for(waited, 5)

    row = _wait(scenario)
    assert row.status == Invocation.SUCCEEDED and row.result == 7


def test_a_wait_that_times_out_returns_the_row_as_it_is() -> None:
    invocation = _invocation()

    async def scenario(run: Any) -> Invocation:
        return await waiting.wait_finished(invocation.pk, 0.3, run=run, waker=await _waker(), since=time.monotonic())

    row = _wait(scenario)
    assert row.status == Invocation.QUEUED and row.pk == invocation.pk
    assert row.function.name == invocation.function.name and row.version.number == 3


def test_the_plain_rows_are_the_orms() -> None:
    invocation = _invocation(Invocation.SUCCEEDED)
    expected = Invocation.objects.get(pk=invocation.pk)
    row = waiting._row(str(invocation.pk))
    assert row is not None
    for field in Invocation._meta.concrete_fields:
        assert getattr(row, field.attname) == getattr(expected, field.attname), field.name
    assert isinstance(row.pk, uuid.UUID) and row.created_at.tzinfo is not None
    assert (row.function.name, row.version.number) == (invocation.function.name, 3)
    assert waiting._row(str(uuid.uuid4())) is None

    fresh = Invocation(
        function=invocation.function,
        version=invocation.version,
        trigger="http",
        handler="ping",
        event={"payload": "\u00e9", "auth": {"kind": "service"}},
        event_at=timezone.now(),
        enqueued_at=timezone.now(),
    )
    plainsql.insert(fresh)
    stored = Invocation.objects.get(pk=fresh.pk)
    for field in Invocation._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(fresh, field.attname), field.name
    assert stored.created_at is not None and stored.status == Invocation.QUEUED


def test_the_invocable_function_is_read_with_its_version_without_the_bundle() -> None:
    from baas.principals import service_principal
    from functions import selectors

    principal = service_principal(name="tests", key_id="k")
    invocation = _invocation()
    function = invocation.function
    function.active_version = invocation.version
    function.save()
    found = selectors.access_invocable(principal, function.name)
    expected = FunctionVersion.objects.get(pk=invocation.version.pk)
    assert found.pk == function.pk and found.name == function.name
    assert "bundle" in found.active_version.get_deferred_fields()
    for field in FunctionVersion._meta.concrete_fields:
        if field.name != "bundle":
            assert getattr(found.active_version, field.attname) == getattr(expected, field.attname), field.name
    assert found.active_version.function is found
    Function.objects.filter(pk=function.pk).update(active_version=None)
    with pytest.raises(Exception, match="no function named"):
        selectors.access_invocable(principal, function.name)


@pytest.mark.postgresql  # the test database on SQLite is in memory: Django never closes it
def test_a_worker_keeps_its_connection_between_tasks_and_drops_a_broken_one() -> None:
    from celery.fixups.django import DjangoWorkerFixup

    from baas.celery import _close_unusable_connections, app
    from functions.tasks import run_invocation as task

    fixup = DjangoWorkerFixup(app)  # what `baas worker` installs: it closes connections around tasks
    connection.ensure_connection()
    connection.close_at = None  # a connection with its life ahead (CONN_MAX_AGE may be 0 here)
    opened = connection.connection
    for _ in range(3):
        fixup.on_task_prerun(sender=task)
        assert Invocation.objects.count() >= 0
        fixup.on_task_postrun(sender=task)
        _close_unusable_connections(sender=task)
    assert connection.connection is opened

    connection.errors_occurred = True  # a query failed on it, and the server is gone
    connection.connection.close()
    _close_unusable_connections(sender=task)
    assert connection.connection is None
    assert Invocation.objects.count() >= 0  # a new one
