"""`baas dev` as a newcomer runs it: one command, no external service, clean exit."""

from __future__ import annotations

import re
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.platform.processes import baas, http, platform_env, processes_with_marker, wait_until

pytestmark = pytest.mark.slow

KEY = re.compile(r"baas_sk_[A-Za-z0-9_-]{20,}")


def start_dev(data_dir, marker):  # type: ignore[no-untyped-def]
    port = free_port()
    process = baas("dev", "--port", str(port), "--data-dir", str(data_dir), env=platform_env(marker))
    base = f"http://127.0.0.1:{port}"
    healthy = wait_until(lambda: http("GET", f"{base}/v1/health")[0] == 200, timeout=60)
    if not healthy:
        process.kill()
        pytest.fail(f"baas dev did not become healthy:\n{process.text}")
    return process, base


def test_baas_dev_serves_keeps_its_data_across_restarts_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    marker = uuid.uuid4().hex

    process, base = start_dev(data_dir, marker)
    try:
        assert (data_dir / "baas.sqlite3").is_file(), "the data folder holds the database"
        assert http("GET", f"{base}/v1/health") == (200, {"status": "ok", "sandbox": "bubblewrap"})
        status, schema = http("GET", f"{base}/v1/schema")
        assert status == 200 and schema["openapi"].startswith("3.")
        status, page = http("GET", f"{base}/v1/docs")
        assert status == 200 and b"swagger-ui" in page
        for url in (f"{base}/v1/docs", f"{base}/v1/health"):
            assert url in process.text, "baas dev prints the URLs of the API, docs and health check"

        # First run: a service key is created and printed exactly once.
        keys = KEY.findall(process.text)
        assert len(keys) == 1, process.text
        first_key = keys[0]
        status, created = http("POST", f"{base}/v1/admin/keys", token=first_key, body={"name": "persisted"})
        assert status == 201
        status, listed = http("GET", f"{base}/v1/admin/keys", token=first_key)
        assert {key["name"] for key in listed["items"]} == {"default", "persisted"}
        assert len(processes_with_marker(marker)) >= 4, "supervisor, web, worker and beat"

        # The ticks beat sends every second stay out of the output: they were six lines a second.
        assert wait_until(lambda: "celery beat" in process.text and "is starting" in process.text, timeout=30)
        time.sleep(2.5)
        routine = [line for line in process.text.splitlines() if "Sending due task" in line or ".tick[" in line]
        assert routine == [], routine[:6]
    finally:
        code = process.stop(signal.SIGTERM)
    assert code == 0, process.text
    assert processes_with_marker(marker) == [], "no process may outlive baas dev"

    # Restart on the same data folder: data intact, no new key printed.
    process, base = start_dev(data_dir, marker)
    try:
        assert KEY.findall(process.text) == []
        status, listed = http("GET", f"{base}/v1/admin/keys", token=first_key)
        assert status == 200
        assert {key["name"] for key in listed["items"]} == {"default", "persisted"}
        assert http("GET", f"{base}/v1/admin/keys", token=created["secret"])[0] == 200
    finally:
        code = process.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, process.text
    assert wait_until(lambda: processes_with_marker(marker) == [], timeout=5), processes_with_marker(marker)


def test_baas_dev_stops_everything_when_one_of_its_processes_dies(tmp_path):
    import os

    marker = uuid.uuid4().hex
    process, _ = start_dev(tmp_path / "data", marker)
    try:
        children = [pid for pid in processes_with_marker(marker) if pid != process.process.pid]
        beat = next(pid for pid in children if b"beat" in Path(f"/proc/{pid}/cmdline").read_bytes())
        os.kill(beat, signal.SIGKILL)
        assert process.process.wait(timeout=30) == 1
    finally:
        process.kill()
    assert wait_until(lambda: processes_with_marker(marker) == [], timeout=10), processes_with_marker(marker)
    assert "beat exited" in process.text
