"""The default deployment (`baas serve --workers 2`, as docker-compose.yml runs it) serves REST and
websockets on one port: a websocket subscriber there sees the writes REST clients make on the same
port, and REST answers of every size (small JSON, a streamed download larger than the hand-off
buffers) come back whole over one keep-alive connection."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import socket
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


def _read_answer(reader: io.BufferedReader, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer off a raw connection: status, headers (lowercase names), body (none
    for an answer to HEAD, whose Content-Length is that of the GET)."""
    status_line = reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b"" if head else reader.read(int(headers.get("content-length", "0")))
    return status, headers, body


def test_answers_on_one_connection_whatever_path_they_take(server: Server) -> None:
    """REST answers leave in one write when they are plain (baas.http_protocol.answer_at_once) and
    through uvicorn's own send otherwise (HEAD, 204, a connection that closes): on one connection,
    pipelined or not, each comes whole and in order, with its Content-Length, and the connection
    stays usable until the client asks to close it."""
    server.rest("POST", "/v1/db/collections", {"name": "pipes", "rules": {"read": "true"}})
    port = urlsplit(server.base).port
    auth = f"Authorization: Bearer {server.key}\r\nHost: 127.0.0.1\r\n"
    body = json.dumps({"id": "p1", "data": {"n": 1}}).encode()
    create = (
        f"POST /v1/db/pipes HTTP/1.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    get = f"GET /v1/db/pipes/p1 HTTP/1.1\r\n{auth}\r\n".encode()
    head = f"HEAD /v1/db/pipes/p1 HTTP/1.1\r\n{auth}\r\n".encode()
    delete = f"DELETE /v1/db/pipes/p1 HTTP/1.1\r\n{auth}\r\n".encode()
    missing_then_close = f"GET /v1/db/pipes/p1 HTTP/1.1\r\n{auth}Connection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(create)
        status, headers, answer = _read_answer(reader)
        assert status == 201 and json.loads(answer)["id"] == "p1"
        assert headers["content-length"] == str(len(answer)) and "connection" not in headers
        sock.sendall(get + head + get)  # pipelined: answered one after the other, in order
        status, headers, first = _read_answer(reader)
        assert status == 200 and json.loads(first)["data"] == {"n": 1}
        status, headers, _ = _read_answer(reader, head=True)
        assert status == 200 and headers["content-length"] == str(len(first))
        status, headers, second = _read_answer(reader)
        assert status == 200 and second == first
        sock.sendall(delete)
        status, headers, nothing = _read_answer(reader)
        assert status == 204 and nothing == b""
        sock.sendall(missing_then_close)
        status, headers, answer = _read_answer(reader)
        assert status == 404 and json.loads(answer)["error"]["code"]
        assert headers["connection"] == "close"
        assert reader.read() == b""  # and the server closed the connection


def test_plain_requests_keep_their_guarantees_beside_a_websocket(server: Server) -> None:
    """What the protocol's own path for plain REST requests must keep on the real server: pipelined
    writes and reads answered in order, a body that comes in pieces, HTTP/1.0 and `Connection:
    close` closing after the answer, and a websocket subscriber on the same port seeing every
    write."""
    server.rest("POST", "/v1/db/collections", {"name": "plain", "rules": {"read": "true"}})
    port = urlsplit(server.base).port
    assert port is not None
    auth = f"Authorization: Bearer {server.key}\r\nHost: 127.0.0.1\r\n"

    def create(doc_id: str, extra: str = "", version: str = "1.1") -> bytes:
        body = json.dumps({"id": doc_id, "data": {"n": doc_id}}).encode()
        head = f"POST /v1/db/plain HTTP/{version}\r\n{auth}Content-Type: application/json\r\n"
        return f"{head}Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body

    def get(doc_id: str) -> bytes:
        return f"GET /v1/db/plain/{doc_id} HTTP/1.1\r\n{auth}\r\n".encode()

    async def scenario() -> None:
        async with connect(server, server.key) as websocket:
            client = Client(websocket)
            await client.send(op="subscribe", id="s", collection="plain")
            await client.expect("subscribed", id="s")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                reader = sock.makefile("rb")
                sock.sendall(b"".join(create(f"p{n}") + get(f"p{n}") for n in range(5)))  # pipelined
                for n in range(5):
                    status, _, answer = _read_answer(reader)
                    assert status == 201 and json.loads(answer)["id"] == f"p{n}"
                    status, _, answer = _read_answer(reader)
                    assert status == 200 and json.loads(answer)["data"] == {"n": f"p{n}"}
                split = create("split")
                for piece in (split[:20], split[20 : len(split) - 5], split[len(split) - 5 :]):  # a body in pieces
                    sock.sendall(piece)
                    await asyncio.sleep(0.1)
                status, _, answer = _read_answer(reader)
                assert status == 201 and json.loads(answer)["data"] == {"n": "split"}
                sock.sendall(create("closing", "Connection: close\r\n"))
                status, headers, _ = _read_answer(reader)
                assert status == 201 and headers["connection"] == "close" and reader.read() == b""
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                reader = sock.makefile("rb")
                sock.sendall(create("old", version="1.0"))
                status, headers, answer = _read_answer(reader)
                assert status == 201 and headers["connection"] == "close" and reader.read() == b""
            seen = [(await client.expect("change", id="s", type="added"))["doc"]["id"] for _ in range(8)]
            assert seen == [*(f"p{n}" for n in range(5)), "split", "closing", "old"]

    run(scenario())
