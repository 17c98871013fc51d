"""Concurrent writers: atomic increments and cursors that stay correct while rows come and go."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.db import connection

from baas.principals import ANONYMOUS, Principal
from documents import services

SERVICE = Principal(kind="service", id="service:tests", role="service")

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(count: int, work) -> list[BaseException]:  # type: ignore[no-untyped-def]
    failures: list[BaseException] = []

    def runner(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # pragma: no cover - reported by the caller
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_n_parallel_increments_add_exactly_n():
    services.create_collection(name="counters", rules={})
    services.create_document(principal=SERVICE, collection="counters", doc_id="c", data={"n": 0})
    threads, each = 6, 10

    def increment(_: int) -> None:
        for _ in range(each):
            services.update_document(principal=SERVICE, collection="counters", doc_id="c", ops={"n": {"increment": 1}})

    assert run_in_threads(threads, increment) == []
    doc = services.get_document(principal=SERVICE, collection="counters", doc_id="c")
    assert doc["data"]["n"] == threads * each
    assert doc["version"] == 1 + threads * each


def test_a_cursor_neither_skips_nor_repeats_documents_while_others_are_inserted_and_deleted():
    services.create_collection(name="feed", rules={"read": "true"})
    for index in range(40):
        services.create_document(principal=SERVICE, collection="feed", doc_id=f"k{index:03d}", data={"n": index % 7})
    stable = {f"k{index:03d}" for index in range(40) if index % 4 != 0}  # never touched by the writer
    stop = threading.Event()

    def writer(_: int) -> None:
        extra = 0
        while not stop.is_set():
            services.create_document(
                principal=SERVICE, collection="feed", doc_id=f"new{extra:04d}", data={"n": extra % 7}
            )
            victim = f"k{(extra * 4) % 40:03d}"
            with contextlib.suppress(services.NotFound):
                services.delete_document(principal=SERVICE, collection="feed", doc_id=victim)
            extra += 1

    thread_failures: list[BaseException] = []
    writer_thread = threading.Thread(target=lambda: thread_failures.extend(run_in_threads(1, writer)))
    writer_thread.start()
    try:
        for order in ("n,-$id", "-n", "$id"):
            seen: list[str] = []
            cursor = None
            while True:
                page = services.list_documents(
                    principal=ANONYMOUS, collection="feed", order=order, limit=5, cursor=cursor
                )
                seen.extend(doc["id"] for doc in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)), f"a document came twice ({order})"
            assert stable <= set(seen), f"a document that existed throughout was skipped ({order})"
    finally:
        stop.set()
        writer_thread.join()
    assert thread_failures == []
