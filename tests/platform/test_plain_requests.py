"""Plain REST requests are served by the HTTP protocol itself (baas/http_protocol.py: the environ
from the parser's callbacks, straight to a REST thread, the answer written from its reply), every
other request by uvicorn's request cycle and the ASGI app. On one connection the two must behave as
one server: answers in the order of the requests, pipelined or not, keep-alive, `Connection: close`
and HTTP/1.0 closing, a body that comes in several packets, `Expect: 100-continue`, and a crash of
the app answered 500 in the API's error shape.

The server here is uvicorn with our protocol class, as `baas serve` runs it, in this process; the
app behind the hand-off is a small WSGI app that tells what it received (the real server is in
test_one_port.py)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from baas.http_protocol import PlainRest
from baas.wsgi_bridge import BufferedWSGI
from tests.conftest import free_port


def _wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    if path.endswith("/crash"):
        raise RuntimeError("the app crashed")
    if path == "/slow":
        time.sleep(float(environ["QUERY_STRING"]))
    body = environ["wsgi.input"].read()
    answer = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ["QUERY_STRING"],
        "body": body.decode(),
        "protocol": environ["SERVER_PROTOCOL"],
        "client": environ.get("REMOTE_ADDR"),
        "type": environ.get("CONTENT_TYPE"),
        "tag": environ.get("HTTP_X_TAG"),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(answer).encode()]


class _App:
    """The ASGI app: what is not plain comes here (counted), and goes to the same REST threads."""

    def __init__(self) -> None:
        self.rest = BufferedWSGI(_wsgi_app, 2, name="plain-test")
        self.plain_rest = PlainRest(serve=self.rest.serve_plain, body_bytes=64 * 1024, async_prefixes=(b"/async/",))
        self.through_asgi: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close"})
            return
        self.through_asgi.append(scope["method"] + " " + scope["path"])
        await self.rest(scope, receive, send)


@contextlib.contextmanager
def _serving(**options: Any) -> Iterator[tuple[int, _App]]:
    app = _App()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http="baas.http_protocol:BoundedHttpToolsProtocol", log_config=None,
        access_log=False, lifespan="on", proxy_headers=False, **options,
    )  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield port, app
    running.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, _App]]:
    with _serving() as serving:
        yield serving


def _read_answer(reader: io.BufferedReader) -> tuple[int, dict[str, str], bytes]:
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(reader.readline(), 16):
            body += reader.read(size)
            reader.readline()
        reader.readline()
    else:
        body = reader.read(int(headers.get("content-length", "0")))
    return status, headers, body


@contextlib.contextmanager
def _connection(port: int) -> Iterator[tuple[socket.socket, io.BufferedReader]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        yield sock, sock.makefile("rb")


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


def test_plain_requests_are_answered_on_a_kept_alive_connection(server: tuple[int, _App]) -> None:
    port, app = server
    asgi_before = len(app.through_asgi)
    with _connection(port) as (sock, reader):
        for n in range(20):
            sock.sendall(
                _post(f"/notes/{n}", b"note %d" % n, "X-Tag: a\r\nX-Tag: b\r\n")
                if n % 2
                else _get(f"/notes/{n}?q=%d" % n)
            )
            status, headers, body = _read_answer(reader)
            answer = json.loads(body)
            assert status == 200 and headers["content-length"] == str(len(body)) and "connection" not in headers
            assert answer["path"] == f"/notes/{n}" and answer["client"] == "127.0.0.1"
            if n % 2:
                assert answer["method"] == "POST" and answer["body"] == f"note {n}" and answer["type"] == "text/plain"
                assert answer["tag"] == "a,b"  # repeated headers joined, as a WSGI server does
            else:
                assert answer["method"] == "GET" and answer["query"] == f"q={n}"
    assert len(app.through_asgi) == asgi_before  # none of them needed the ASGI app


def test_a_header_name_with_an_underscore_never_reaches_the_app_on_either_path(server: tuple[int, _App]) -> None:
    # In the environ `X_Tag` and `X-Tag` are one key: a client could append to a header that a
    # trusted proxy sets (X-Forwarded-For) if names with underscores were passed on.
    port, app = server
    spoof = "X_Tag: forged\r\nX-Tag: real\r\n"
    with _connection(port) as (sock, reader):
        for request in (_get("/plain", spoof), _get("/async/cycle", spoof), _get("/plain", "X_Tag: forged\r\n")):
            sock.sendall(request)
            status, _, body = _read_answer(reader)
            assert status == 200
            assert json.loads(body)["tag"] == ("real" if b"X-Tag" in request else None)
    assert "GET /async/cycle" in app.through_asgi and "GET /plain" not in app.through_asgi


def test_pipelined_requests_are_answered_in_order_whichever_path_they_take(server: tuple[int, _App]) -> None:
    port, app = server
    chunked = b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    pipeline = [
        (_get("/slow?0.3"), "/slow", ""),  # the first takes a while: the others must wait for it
        (_post("/one", b"first"), "/one", "first"),
        (chunked, "/chunked", "hello"),  # through uvicorn's cycle
        (_get("/two"), "/two", ""),
        (b"HEAD /three HTTP/1.1\r\nHost: x\r\n\r\n", None, ""),  # through uvicorn's cycle, no body
        (_get("/async/four"), "/async/four", ""),  # an async route of the app: its cycle
        (_post("/five", b"last"), "/five", "last"),
    ]
    with _connection(port) as (sock, reader):
        sock.sendall(b"".join(request for request, _, _ in pipeline))
        for _, path, body in pipeline:
            if path is None:  # the answer to HEAD: a head only
                assert reader.readline().startswith(b"HTTP/1.1 200")
                while reader.readline() != b"\r\n":
                    pass
                continue
            status, _, answer = _read_answer(reader)
            assert status == 200 and json.loads(answer)["path"] == path and json.loads(answer)["body"] == body
    assert {"POST /chunked", "HEAD /three", "GET /async/four"} <= set(app.through_asgi)
    assert not {"GET /slow", "POST /one", "GET /two", "POST /five"} & set(app.through_asgi)


def test_a_body_in_several_packets_is_read_whole(server: tuple[int, _App]) -> None:
    port, _ = server
    body = b"x" * 3000
    request = _post("/split", body)
    with _connection(port) as (sock, reader):
        for piece in (request[:30], request[30:200], request[200:1500], request[1500:]):
            sock.sendall(piece)
            time.sleep(0.1)
        status, _, answer = _read_answer(reader)
        assert status == 200 and json.loads(answer)["body"] == body.decode()
        sock.sendall(_get("/after"))  # and the connection goes on
        assert json.loads(_read_answer(reader)[2])["path"] == "/after"


def test_connection_close_and_http_1_0_close_after_the_answer(server: tuple[int, _App]) -> None:
    port, _ = server
    with _connection(port) as (sock, reader):
        sock.sendall(_get("/closing", "Connection: close\r\n") + _get("/never"))
        status, headers, answer = _read_answer(reader)
        assert status == 200 and headers["connection"] == "close" and json.loads(answer)["path"] == "/closing"
        assert reader.read() == b""
    with _connection(port) as (sock, reader):
        sock.sendall(b"POST /old HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
        status, headers, answer = _read_answer(reader)
        assert status == 200 and headers["connection"] == "close"
        assert json.loads(answer) | {"client": None} == {
            "method": "POST", "path": "/old", "query": "", "body": "abc", "protocol": "HTTP/1.0", "client": None,
            "type": None, "tag": None,
        }  # fmt: skip
        assert reader.read() == b""


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: tuple[int, _App]) -> None:
    port, _ = server
    with _connection(port) as (sock, reader):
        sock.sendall(b"PUT /expecting HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n" and reader.readline() == b"\r\n"
        sock.sendall(b"body")
        status, _, answer = _read_answer(reader)
        assert status == 200 and json.loads(answer)["body"] == "body"


def test_a_crash_of_the_app_is_500_in_the_error_shape_and_the_server_goes_on(server: tuple[int, _App]) -> None:
    port, _ = server
    for request in (_get("/crash"), _post("/crash", b"{}"), _post("/async/crash", b"{}")):  # plain, plain, ASGI
        with _connection(port) as (sock, reader):
            sock.sendall(request)
            status, headers, body = _read_answer(reader)
            assert status == 500 and headers["content-type"] == "application/json"
            assert json.loads(body) == {
                "error": {"code": "internal_error", "message": "Something went wrong on our side.", "details": {}}
            }
            assert headers["connection"] == "close" and reader.read() == b""
    with _connection(port) as (sock, reader):
        sock.sendall(_get("/fine"))
        assert _read_answer(reader)[0] == 200


def test_a_client_that_leaves_before_its_answer_does_not_stop_the_connection_s_successors(
    server: tuple[int, _App],
) -> None:
    port, _ = server
    with _connection(port) as (sock, _):
        sock.sendall(_get("/slow?0.3") + _get("/queued"))
    time.sleep(0.5)  # both were served (or dropped) without anyone reading
    with _connection(port) as (sock, reader):
        sock.sendall(_get("/next"))
        assert json.loads(_read_answer(reader)[2])["path"] == "/next"


def test_graceful_shutdown_finishes_a_request_in_flight() -> None:
    app = _App()
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http="baas.http_protocol:BoundedHttpToolsProtocol", log_config=None,
        access_log=False, lifespan="on", proxy_headers=False, timeout_graceful_shutdown=5,
    )  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        time.sleep(0.05)
    with _connection(port) as (sock, reader):
        sock.sendall(_get("/slow?0.5"))
        time.sleep(0.1)
        running.should_exit = True
        status, headers, answer = _read_answer(reader)
        assert status == 200 and json.loads(answer)["path"] == "/slow"
        assert headers["connection"] == "close" and reader.read() == b""
    thread.join(10)
    assert not thread.is_alive()


def test_a_websocket_upgrade_after_a_plain_request_on_the_same_connection(server: tuple[int, _App]) -> None:
    port, _ = server
    upgrade = (
        b"GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    with _connection(port) as (sock, reader):
        sock.sendall(_get("/before"))
        assert json.loads(_read_answer(reader)[2])["path"] == "/before"
        sock.sendall(upgrade)
        assert reader.readline().startswith(b"HTTP/1.1 101")
        while reader.readline() not in (b"\r\n", b""):
            pass
        assert reader.read(2)[:1] == b"\x88"  # the server's close frame: a websocket, not an HTTP answer


# --- a connection's keep-alive timeout, and a departed client's answer (written to nobody's
# socket: the descriptor's number is reused by the connections that come next).


def test_a_connection_left_idle_after_its_answer_is_closed_after_the_keep_alive_timeout() -> None:
    with _serving(timeout_keep_alive=1) as (port, _), _connection(port) as (sock, reader):
        for _ in range(3):  # kept alive while it is used, however it was answered
            sock.sendall(_get("/plain"))
            assert _read_answer(reader)[0] == 200
            time.sleep(0.6)
        sock.sendall(_get("/plain"))
        assert _read_answer(reader)[0] == 200
        sock.settimeout(5)
        left = time.monotonic()
        assert reader.read() == b""  # the server closed it
        assert 0.8 < time.monotonic() - left < 3.5


def test_an_answer_whose_client_left_never_reaches_another_connection(server: tuple[int, _App]) -> None:
    port, _ = server
    gone = socket.create_connection(("127.0.0.1", port), timeout=10)
    gone.sendall(_get("/slow?0.4", "X-Tag: the-one-who-left\r\n"))
    gone.close()  # its descriptor's number is free for the connections opened next
    others = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
    try:
        for n, sock in enumerate(others):
            sock.sendall(_get(f"/slow?0.{n % 6}", f"X-Tag: other-{n}\r\n"))
        for n, sock in enumerate(others):
            reader = sock.makefile("rb")
            assert json.loads(_read_answer(reader)[2])["tag"] == f"other-{n}"
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(1)  # and nothing after it
    finally:
        for sock in others:
            sock.close()
