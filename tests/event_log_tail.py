"""Concurrent writers with a reader tailing the event log: the harness of the ordering tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection

from baas import events


def tail_while_writing(
    writers: list[Callable[[], None]], *, batch_limit: int, topics: list[str] | None = None
) -> list[tuple[int, str]]:
    """Run each writer in a thread of its own while one reader tails the log (of these topics, or
    all) from the start in batches of `batch_limit`; returns the (seq, key) of every row the reader
    saw, in its order.
    A failure in any thread fails the caller's test."""
    failures: list[BaseException] = []
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)
            finally:
                connection.close()

        return run

    def read() -> None:
        waiter = events.EventWaiter(poll_interval=0.01)
        position = 0
        while True:
            finished = done.is_set()  # read once more after the writers end: nothing may be left
            batch = events.read_after(position, topics=topics, limit=batch_limit)
            seen.extend((event.seq, event.key) for event in batch)
            if batch:
                position = batch[-1].seq
            elif finished:
                return
            else:
                waiter.wait(0.05)

    tail = threading.Thread(target=guarded(read))
    threads = [threading.Thread(target=guarded(writer)) for writer in writers]
    tail.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    tail.join(timeout=60)
    assert not tail.is_alive(), "the reader did not catch up within 60 s"
    assert not failures, failures
    return seen
