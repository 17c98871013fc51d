"""Fixtures for functions: a real Celery worker process sharing this test run's database and a
private embedded queue folder, and helpers to deploy and invoke through the API."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import BAAS_BIN
from tests.platform.processes import RunningProcess, platform_env, processes_with_marker


def _database_url(settings_dict: dict[str, Any]) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
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
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
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
    marker = f"functions-worker-{data_dir.name}"
    env = platform_env(
        marker,
        BAAS_DATA_DIR=str(data_dir),
        DATABASE_URL=_database_url(connection.settings_dict),
        BAAS_SANDBOX="bubblewrap",
        FUNCTIONS_POOL_SIZE="4",
        DB_CONN_MAX_AGE="0",
        SECRET_KEY=settings.SECRET_KEY,  # the same key decrypts the functions' secrets
    )
    worker = RunningProcess([BAAS_BIN, "worker", "--pool", "threads", "--concurrency", "2"], env=env)
    deadline = time.monotonic() + 30
    while "ready" not in worker.text:
        if worker.process.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the worker did not start:\n{worker.text}")
        time.sleep(0.05)
    worker.marker = marker  # type: ignore[attr-defined]
    yield worker
    worker.stop()
    if os.environ.get("FUNCTIONS_TEST_WORKER_LOG"):
        Path(os.environ["FUNCTIONS_TEST_WORKER_LOG"]).write_text(worker.text)
    deadline = time.monotonic() + 5
    while processes_with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in processes_with_marker(marker)}
    assert left == {}, "the worker left processes behind"


@pytest.fixture
def functions_api(transactional_db: None, function_worker: RunningProcess, service_key: str) -> APIClient:
    """A service-key client; rows it writes are committed, so the worker sees them."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {service_key}")
    return client


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
