"""Through a real `baas serve` (uvicorn, REST via a2wsgi): streamed and chunked uploads, the
413 of a body that passes max_size mid-stream, streamed downloads."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import baas, platform_env, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("live-storage")
    env = platform_env(f"storage-live-{os.getpid()}", BAAS_DATA_DIR=str(data), LOG_LEVEL="WARNING")
    subprocess.run([BAAS_BIN, "migrate", "-v", "0"], env=env, check=True)
    key = subprocess.run(
        [BAAS_BIN, "keys", "create", "live"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    process = baas("serve", "--port", str(port), env=env)

    def healthy() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/v1/health")
        return conn.getresponse().status == 200

    try:
        assert wait_until(healthy, timeout=30), process.text
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        conn.request("POST", "/v1/storage/buckets", json.dumps({"name": "live", "max_size": 4 * 2**20}), headers)
        assert conn.getresponse().status == 201
        yield port, key, data
    finally:
        process.stop()


def _send(port: int, key: str, path: str, chunks, length: int | None = None):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("PUT", path)
    conn.putheader("Authorization", f"Bearer {key}")
    conn.putheader("Content-Type", "application/octet-stream")
    if length is None:
        conn.putheader("Transfer-Encoding", "chunked")
    else:
        conn.putheader("Content-Length", str(length))
    conn.endheaders()
    try:
        for chunk in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if length is None else chunk)
        if length is None:
            conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early and closed: read its answer
    response = conn.getresponse()
    return response.status, response.read()


def test_a_chunked_upload_streams_through_and_downloads_back(server):
    port, key, _ = server
    chunks = [os.urandom(256 * 1024) for _ in range(8)]
    status, body = _send(port, key, "/v1/storage/objects/live/chunked.bin", chunks)
    assert status == 201, body
    assert json.loads(body)["etag"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/v1/storage/objects/live/chunked.bin", headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Length") == str(2 * 2**20)
    assert response.read() == b"".join(chunks)


def test_a_chunked_body_passing_max_size_is_cut_off_with_413_and_leaves_no_file(server):
    port, key, data = server
    before = {p for p in Path(data, "files").rglob("*") if p.is_file()}
    chunks = (b"x" * 256 * 1024 for _ in range(64))  # 16 MiB against a 4 MiB limit
    status, body = _send(port, key, "/v1/storage/objects/live/too-big.bin", chunks)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "too_large"
    after = {p for p in Path(data, "files").rglob("*") if p.is_file()}
    assert after == before


def test_a_declared_length_over_max_size_is_refused_before_the_body(server):
    port, key, _ = server
    status, body = _send(port, key, "/v1/storage/objects/live/big.bin", [b"x" * 1024], length=64 * 2**20)
    assert status == 413, body
