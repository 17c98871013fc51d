"""Slow clients against a real `baas serve`: trickled bodies and headers hold their sockets, yet
every other client keeps being answered at once; heads beyond the bounds are 431, bodies that
come too slowly 408. The server runs with 4 REST threads, so a handful of slow clients that each
held a thread would stop it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import BAAS_BIN, free_port
from tests.platform.processes import baas, platform_env, wait_until

pytestmark = pytest.mark.slow

GRACE = 6  # BAAS_BODY_TIMEOUT: seconds a body may take before the minimum rate applies
HEADER_TIMEOUT = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    data = tmp_path_factory.mktemp("slow-clients")
    env = platform_env(
        f"slow-clients-{os.getpid()}",
        BAAS_DATA_DIR=str(data),
        LOG_LEVEL="WARNING",
        BAAS_HTTP_THREADS="4",
        BAAS_BODY_TIMEOUT=str(GRACE),
        BAAS_BODY_IDLE_TIMEOUT="2",
        BAAS_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
    )
    subprocess.run([BAAS_BIN, "migrate", "-v", "0"], env=env, check=True)
    key = subprocess.run(
        [BAAS_BIN, "keys", "create", "slow"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    process = baas("serve", "--port", str(port), env=env)
    try:
        assert wait_until(lambda: _status(port, "GET", "/v1/health", timeout=1)[0] == 200, timeout=30), process.text
        assert _status(port, "POST", "/v1/db/collections", key, {"name": "notes"})[0] == 201
        assert _status(port, "POST", "/v1/db/notes", key, {"id": "n1", "data": {"text": "hi"}})[0] == 201
        assert _status(port, "POST", "/v1/storage/buckets", key, {"name": "up"})[0] == 201
        yield port, key
    finally:
        process.stop()


def _status(port: int, method: str, path: str, key: str | None = None, body: object = None, timeout: float = 5):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return None, b""
    finally:
        conn.close()


class Trickler(threading.Thread):
    """Opens a connection, sends `head`, then one byte of `tail` every half second."""

    def __init__(self, port: int, head: bytes, tail: bytes) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.head, self.tail = head, tail
        self.answer = b""
        self.ended_at: float | None = None

    def run(self) -> None:
        self.sock.settimeout(0.5)
        try:
            self.sock.sendall(self.head)
            for byte in self.tail:
                self.sock.sendall(bytes([byte]))
                try:
                    self.answer = self.sock.recv(4096)
                except TimeoutError:
                    continue
                self._read_rest()  # the head and the body of an answer may come in separate reads
                break  # answered (or closed: b"")
        except OSError:
            pass
        self.ended_at = time.monotonic()
        self.sock.close()

    def _read_rest(self) -> None:
        """Read until the server closes (it does after a 408) or goes quiet for two seconds."""
        self.sock.settimeout(2)
        with contextlib.suppress(OSError):
            while self.answer and (chunk := self.sock.recv(65536)):
                self.answer += chunk


def _slow_body(port: int, path: str, length: int, key: str | None = None) -> Trickler:
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    head = b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n%sContent-Length: %d\r\n\r\n" % (
        path.encode(),
        auth,
        length,
    )
    return Trickler(port, head, b"x" * 1000)


def _slow_head(port: int) -> Trickler:
    return Trickler(port, b"GET /v1/health HTTP/1.1\r\n", b"X-Slow: " + b"y" * 1000)


def test_slow_bodies_and_heads_do_not_stop_other_clients(server):
    port, key = server
    slow = [_slow_body(port, "/v1/auth/anonymous", 500) for _ in range(12)]  # small: read before a thread
    slow += [_slow_body(port, f"/v1/storage/objects/up/big{i}", 50_000_000, key) for i in range(6)]  # streamed
    slow += [_slow_head(port) for _ in range(12)]
    started = time.monotonic()
    for client in slow:
        client.start()
    time.sleep(1)
    timings = []
    while time.monotonic() - started < GRACE - 1.5:
        for method, path in (("GET", "/v1/health"), ("GET", "/v1/db/notes/n1")):
            begun = time.monotonic()
            status, body = _status(port, method, path, key, timeout=3)
            timings.append(time.monotonic() - begun)
            assert status == 200, (path, body)
        time.sleep(0.1)
    assert all(client.is_alive() for client in slow), "the slow clients were all still sending"
    assert max(timings) < 1.0, timings
    for client in slow:
        client.join(timeout=GRACE + 10)
    for client in slow:
        assert not client.is_alive()
        # Cut off: a 408 in the error shape, or (once the answer went out) a closed socket.
        assert client.answer == b"" or client.answer.startswith(b"HTTP/1.1 408"), client.answer[:200]
    assert any(b'"request_timeout"' in client.answer for client in slow)


def test_a_too_slow_body_is_408(server):
    port, key = server
    client = _slow_body(port, "/v1/db/notes", 400, key)
    client.start()
    client.join(timeout=GRACE + 10)
    assert client.answer.startswith(b"HTTP/1.1 408"), client.answer
    assert json.loads(client.answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"


def test_a_too_slow_upload_is_408_and_nothing_is_stored(server):
    port, key = server
    client = _slow_body(port, "/v1/storage/objects/up/slow.bin", 10_000_000, key)
    client.start()
    client.join(timeout=GRACE + 10)
    assert client.answer.startswith(b"HTTP/1.1 408"), client.answer
    assert _status(port, "GET", "/v1/storage/objects/up/slow.bin", key)[0] == 404


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"a" * 200_000 + b"\r\n",  # one huge header
        b"".join(b"X-H%d: v\r\n" % i for i in range(5000)),  # very many
        b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(60)),  # few, adding up
    ],
    ids=["one-200KB-header", "5000-headers", "60KB-in-60-headers"],
)
def test_oversized_heads_are_431(server, headers):
    port, _ = server
    answer = _raw(port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "headers_too_large"


def test_a_long_url_counts_against_the_head(server):
    port, _ = server
    answer = _raw(port, b"GET /v1/health?" + b"q" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_ordinary_heads_and_websockets_still_pass(server):
    port, _ = server
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"c" * 100) for i in range(40))
    answer = _raw(port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    upgrade = (
        b"GET /v1/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(upgrade)
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")


def test_a_silent_connection_is_closed_after_the_header_timeout(server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 10) as sock:
        begun = time.monotonic()
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408")
        assert HEADER_TIMEOUT - 1 < time.monotonic() - begun < HEADER_TIMEOUT + 5
