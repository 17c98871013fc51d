"""Fixtures for functions: a real Celery worker process sharing this test run's database and a
private embedded queue folder, and helpers to deploy and invoke through the API.

Trigger dispatch: the session worker runs with its dispatch tailer off and this test process runs
the same tailer thread instead (functions/tailer.py), so that it sends to whichever queue the test
uses now — the session worker's, or a private platform's (`platform` fixture: its own worker,
optionally beat, on a private queue folder or a Redis of its own), whose worker tails too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import BAAS_BIN, service_missing
from tests.platform.processes import RunningProcess, platform_env, processes_with_marker


def _database_url(settings_dict: dict[str, Any]) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        # baas/settings.py gives a sqlite:// URL the same WAL / IMMEDIATE options as the default.
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="session")
def function_worker(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProcess]:
    """`baas worker --pool threads` in its own process, consuming a queue folder of this session."""
    from django.conf import settings
    from django.db import connection

    from baas.celery import app

    if not shutil.which("bwrap") and not Path("/usr/bin/bwrap").exists():
        service_missing("bubblewrap (scripts/bootstrap installs it)")
    data_dir = tmp_path_factory.mktemp("worker-data")
    queue = {name: data_dir / "queue" / name for name in ("messages", "processed", "control")}
    for folder in queue.values():
        folder.mkdir(parents=True, exist_ok=True)
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "data_folder_in": str(queue["messages"]),
        "data_folder_out": str(queue["messages"]),
        "processed_folder": str(queue["processed"]),
        "control_folder": str(queue["control"]),
    }
    _drop_cached_producers(app)
    # Unique per session: every xdist process has its own "worker-data0" folder.
    marker = f"functions-worker-{uuid.uuid4().hex[:12]}"
    env = platform_env(
        marker,
        BAAS_DATA_DIR=str(data_dir),
        DATABASE_URL=_database_url(connection.settings_dict),
        BAAS_SANDBOX="bubblewrap",
        FUNCTIONS_POOL_SIZE="4",
        DB_CONN_MAX_AGE="0",
        SECRET_KEY=settings.SECRET_KEY,  # the same key decrypts the functions' secrets
        FUNCTIONS_DISPATCH_IN_WORKER="false",  # this process tails instead (see the module docstring)
        FUNCTIONS_RETRY_BASE_MS="50",
    )
    worker = _start(["worker", "--pool", "threads", "--concurrency", "2"], env, "ready")
    worker.marker = marker  # type: ignore[attr-defined]
    worker.env = env  # type: ignore[attr-defined]
    yield worker
    worker.stop()
    if os.environ.get("FUNCTIONS_TEST_WORKER_LOG"):
        Path(os.environ["FUNCTIONS_TEST_WORKER_LOG"]).write_text(worker.text)
    deadline = time.monotonic() + 5
    while processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in processes_with_marker(marker)}
    assert left == {}, "the worker left processes behind"


def _drop_cached_producers(app: Any) -> None:
    """Forget the connections and producers this process cached: a task sent earlier in the session
    (another module's async invoke, an auth mail) left a producer bound to the queue folder that was
    configured then, and the worker would never see what is sent through it. The next send builds
    new ones from the transport options set above."""
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    if "amqp" in app.__dict__:  # a cached_property: present once something was sent
        app.__dict__["amqp"]._producer_pool = None


def _start(args: list[str], env: dict[str, str], ready: str, timeout: float = 30) -> RunningProcess:
    process = RunningProcess([BAAS_BIN, *args], env=env)
    deadline = time.monotonic() + timeout
    while ready not in process.text:
        if process.process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"`baas {args[0]}` did not start:\n{process.text}")
        time.sleep(0.05)
    return process


@contextmanager
def producer(broker_url: str, transport_options: dict[str, Any]) -> Iterator[None]:
    """Send this process's Celery messages to another broker for a while."""
    from baas.celery import app

    def reset() -> None:
        app._pool = None
        if "amqp" in app.__dict__:
            app.__dict__["amqp"]._producer_pool = None

    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url, app.conf.broker_transport_options = broker_url, transport_options
    reset()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = saved
        reset()


class Platform:
    """A worker (and optionally beat) of one test, on its own queue, sharing the test database."""

    def __init__(self, env: dict[str, str], marker: str, beat: bool) -> None:
        self.env, self.marker = env, marker
        self.worker: RunningProcess | None = None
        self.beat: RunningProcess | None = None
        self.start_worker()
        if beat:
            self.beat = _start(["beat"], env, "beat: Starting")

    def start_worker(self) -> None:
        self.worker = _start(["worker", "--pool", "threads", "--concurrency", "2"], self.env, "ready")

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.process.send_signal(signal.SIGKILL)
        self.worker.process.wait()
        self.worker = None

    @property
    def text(self) -> str:
        return "".join(p.text for p in (self.worker, self.beat) if p is not None)

    def stop(self) -> None:
        stuck = []
        for process in (self.beat, self.worker):
            if process is None:
                continue
            try:
                process.stop()
            except subprocess.TimeoutExpired:
                process.kill()  # never leave it running for the tests after this one
                stuck.append(process.process.args[1])
        deadline = time.monotonic() + 5
        while processes_with_marker(self.marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with_marker(self.marker) == [], "the platform left processes behind"
        assert not stuck, f"{stuck} did not stop within 30 s of SIGTERM"


@pytest.fixture
def platform(function_worker: RunningProcess, tmp_path: Path) -> Iterator[Any]:
    """`platform(beat=False, broker_url=None, **env)` starts a private worker (and beat) for this test
    and points this process's messages at its queue until the test ends."""
    started: list[Platform] = []
    stack = ExitStack()

    def make(*, beat: bool = False, broker_url: str | None = None, **env: str) -> Platform:
        data_dir = tmp_path / f"platform-{len(started)}"
        marker = f"functions-platform-{uuid.uuid4().hex[:12]}"
        overrides = {**function_worker.env, "BAAS_DATA_DIR": str(data_dir), "BAAS_TEST_MARKER": marker}  # type: ignore[attr-defined]
        overrides.pop("FUNCTIONS_DISPATCH_IN_WORKER")
        if broker_url:
            overrides["CELERY_BROKER_URL"] = broker_url
            stack.enter_context(producer(broker_url, {}))
        else:
            folders = {name: data_dir / "queue" / name for name in ("messages", "processed", "control")}
            for folder in folders.values():
                folder.mkdir(parents=True, exist_ok=True)
            options = {
                "data_folder_in": str(folders["messages"]),
                "data_folder_out": str(folders["messages"]),
                "processed_folder": str(folders["processed"]),
                "control_folder": str(folders["control"]),
                "store_processed": False,
                "polling_interval": 0.01,
            }
            stack.enter_context(producer("baasfs://localhost/", options))
        started.append(Platform({**overrides, **env}, marker, beat))
        return started[-1]

    try:
        yield make
    finally:
        # The producer goes back to the session's queue whatever the stop found: left pointing at
        # this test's (maybe stopped) broker, every later test of this process would fail.
        with stack:
            failures = []
            for running in started:
                try:
                    running.stop()
                except AssertionError as failure:
                    failures.append(str(failure))
            assert not failures, failures


def wait_for_rows(query: Any, count: int, timeout: float = 20, **filters: Any) -> list[Any]:
    """Poll a queryset until it has `count` rows matching `filters`; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(query.filter(**filters))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def settle(query: Any, timeout: float = 20, quiet: float = 0.6) -> list[Any]:
    """Poll until no invocation of `query` is unfinished and nothing new arrived for `quiet` s."""
    from functions.models import Invocation

    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        rows = list(query.order_by("created_at"))
        state = [(row.pk, row.status) for row in rows]
        if state != last:
            last, since = state, time.monotonic()
        elif all(row.status not in Invocation.UNFINISHED for row in rows) and time.monotonic() - since >= quiet:
            return rows
        time.sleep(0.05)
    return list(query.order_by("created_at"))


@pytest.fixture
def functions_api(transactional_db: None, function_worker: RunningProcess, service_key: str) -> Iterator[APIClient]:
    """A service-key client; rows it writes are committed, so the worker sees them. While it is in
    use this process tails the event log and dispatches (see the module docstring)."""
    from functions import tailer

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    tailer.start()
    yield client
    tailer.stop()  # before the database is flushed


def deploy(client: APIClient, name: str, source: str, **config: Any) -> Any:
    files = config.pop("files", None) or {"main.py": textwrap.dedent(source)}
    return client.post("/v1/functions", {"name": name, "files": files, **config}, format="json")


def invoke(client: APIClient, name: str, payload: Any = None, **query: str) -> Any:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    return client.post(f"/v1/functions/{name}/invoke{suffix}", {"payload": payload}, format="json")


HELLO = """
from baas_runtime import on_http

calls = 0

@on_http
def hello(event, ctx):
    global calls
    calls += 1
    print("hello", event["payload"])
    return {"echo": event["payload"], "calls": calls, "version": ctx.version, "invocation": ctx.invocation_id}
"""
