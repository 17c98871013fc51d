"""The default deployment (`baas serve --workers 2`, as docker-compose.yml runs it) serves REST and
websockets on one port: a websocket subscriber there sees the writes REST clients make on the same
port, and REST answers of every size (small JSON, a streamed download larger than the hand-off
buffers) come back whole over one keep-alive connection."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest

from baas.wsgi_bridge import BUFFERED_ANSWER_BYTES
from tests.platform.processes import RunningProcess, http, wait_until
from tests.realtime.conftest import BAAS_BIN, Client, Server, connect, free_port, prepare, run, stack_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    for env in stack_env(tmp_path_factory.mktemp("one-port")):
        env = prepare(env)
        port = free_port()
        process = RunningProcess([BAAS_BIN, "serve", "--port", str(port), "--workers", "2"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_until(lambda url=f"{base}/v1/health": http("GET", url)[0] == 200, timeout=60), process.text
            yield Server(base=base, key=env["BAAS_TEST_KEY"], env=env, process=process)
        finally:
            process.stop()


def _call(conn: HTTPConnection, key: str, method: str, path: str, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, bytes]:  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        headers["Content-Type"] = content_type
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def test_a_websocket_and_rest_share_the_one_port(server: Server) -> None:
    port = urlsplit(server.base).port
    assert port is not None and urlsplit(server.ws).port == port
    server.rest("POST", "/v1/db/collections", {"name": "notes", "rules": {"read": "true"}})
    server.rest("POST", "/v1/storage/buckets", {"name": "files"})
    big = os.urandom(3 * BUFFERED_ANSWER_BYTES + 123)  # streamed from the REST thread, piece by piece

    async def scenario() -> None:
        async with connect(server, server.key) as socket:
            client = Client(socket)
            await client.send(op="subscribe", id="s", collection="notes")
            await client.expect("subscribed", id="s")
            conn = HTTPConnection("127.0.0.1", port, timeout=10)  # one keep-alive connection
            try:
                status, body = _call(conn, server.key, "POST", "/v1/db/notes",
                                     json.dumps({"id": "n1", "data": {"text": "hi"}}).encode())  # fmt: skip
                assert status == 201, body
                change = await client.expect("change", id="s", type="added")
                assert change["doc"]["id"] == "n1"
                assert change["doc"]["data"] == {"text": "hi"}

                status, body = _call(conn, server.key, "GET", "/v1/db/notes/n1")
                assert status == 200 and json.loads(body)["data"] == {"text": "hi"}

                status, body = _call(
                    conn, server.key, "PUT", "/v1/storage/objects/files/big.bin", big, "application/octet-stream"
                )
                assert status == 201, body
                status, body = _call(conn, server.key, "GET", "/v1/storage/objects/files/big.bin")
                assert status == 200
                assert hashlib.sha256(body).hexdigest() == hashlib.sha256(big).hexdigest()

                status, body = _call(conn, server.key, "GET", "/v1/db/notes/missing")
                assert status == 404 and json.loads(body)["error"]["code"]
            finally:
                conn.close()
            # The websocket is still served after all that, on the same port.
            await client.send(op="ping")
            await client.expect("pong")

    run(scenario())
