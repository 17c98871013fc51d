"""Redis (the broker) restarted, empty, while events keep coming: no event is lost — the
dispatcher reads the log, not the queue, and the sweep re-sends the messages Redis forgot."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, port_open, service_missing
from tests.functions.conftest import deploy, settle

COUNTER = """
from baas_runtime import on_document_created


@on_document_created("ticks")
def count(event, ctx):
    return event["doc"]["data"]["n"]
"""


class OwnRedis:
    """A redis-server of this test only (never the machine's shared one), without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--save", "", "--appendonly",
             "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    if not shutil.which("redis-server"):
        service_missing("redis-server (apt-get install redis-server)")
    redis = OwnRedis()
    redis.start()
    yield redis
    redis.stop()


def test_no_event_is_lost_when_redis_restarts_under_load(functions_api, platform, own_redis: OwnRedis) -> None:
    from functions.models import Invocation

    running = platform(broker_url=own_redis.url, FUNCTIONS_REQUEUE_SECONDS="2")
    deploy(functions_api, "counter", COUNTER, permissions=["db:read:ticks"])
    functions_api.post("/v1/db/collections", {"name": "ticks"}, format="json")

    written: list[int] = []
    stop = threading.Event()

    def write() -> None:
        from django.db import connection

        from baas.principals import service_principal
        from documents import services as documents

        principal = service_principal(name="tests", key_id="k")
        n = 0
        while not stop.is_set():
            documents.create_document(principal=principal, collection="ticks", data={"n": n})
            written.append(n)
            n += 1
            time.sleep(0.03)
        connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(1.0)
        own_redis.stop()  # everything Redis held is gone: queued messages, unacked ones
        time.sleep(1.5)
        own_redis.start()
        time.sleep(1.5)
    finally:
        stop.set()
        writer.join()

    # Celery 5.7.0's worker can exit on a broker drop mid-ack ("Unrecoverable error: AttributeError
    # … 'hostname'"). Deployments restart exited workers (docker-compose restart policy, systemd);
    # so does this test. What must hold either way: no event is lost.
    time.sleep(2.0)
    if running.worker is None or running.worker.process.poll() is not None:
        running.start_worker()

    assert len(written) > 60
    rows = settle(Invocation.objects.filter(function__name="counter"), timeout=45, quiet=1.0)
    results = sorted(row.result for row in rows if row.status == "succeeded")
    if results != written and os.environ.get("FUNCTIONS_TEST_WORKER_LOG"):
        Path(os.environ["FUNCTIONS_TEST_WORKER_LOG"] + ".outage").write_text(running.text)
    assert results == written, running.text[-3000:]
    assert len({row.event_id for row in rows}) == len(rows)
