"""`network: "egress"` (issue 14.3): the sandbox has its own network namespace and reaches out only
through the worker's filtering proxy. Tried from inside real bubblewrap sandboxes against services
listening on this machine's loopback (PostgreSQL, Redis, a test HTTP server)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from functions.sandbox import egress, paths
from tests.functions.sandboxes import sandbox, value

pytestmark = pytest.mark.slow  # starts sandboxes (tests/process_level.py)

PROBE = """
import os, socket, urllib.error, urllib.request
from baas_runtime import on_http


def through_proxy(request):
    conn = socket.create_connection(("127.0.0.1", 3128), timeout=15)
    conn.sendall(request.encode())
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return conn, data


def read_all(conn, data):
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return data.decode("latin-1")
        data += chunk


@on_http
def probe(event, ctx):
    what = event["what"]
    if what == "env":
        return {name: value for name, value in os.environ.items() if "proxy" in name.lower()}
    if what == "direct":
        seen = {}
        for host, port in event["targets"]:
            try:
                socket.create_connection((host, port), timeout=3).close()
                seen[f"{host}:{port}"] = "connected"
            except OSError as exc:
                seen[f"{host}:{port}"] = type(exc).__name__
        return seen
    if what == "unix":
        seen = {}
        for path in event["paths"]:
            conn = socket.socket(socket.AF_UNIX)
            try:
                conn.connect(path)
                seen[repr(path)] = "connected"
            except OSError as exc:
                seen[repr(path)] = type(exc).__name__
        return seen
    if what == "connect":
        seen = {}
        for target in event["targets"]:
            conn, data = through_proxy(f"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n")
            conn.close()
            seen[target] = data.split(b"\\r\\n", 1)[0].decode()
        return seen
    if what == "raw":
        conn, data = through_proxy(event["request"])
        return read_all(conn, data)
    if what == "tunnel":
        conn, data = through_proxy(f"CONNECT {event['target']} HTTP/1.1\\r\\n\\r\\n")
        status, _, rest = data.partition(b"\\r\\n\\r\\n")
        if b" 200 " not in status.split(b"\\r\\n", 1)[0]:
            return status.decode()
        conn.sendall(b"GET /tunnel HTTP/1.1\\r\\nHost: test\\r\\nConnection: close\\r\\n\\r\\n")
        return read_all(conn, rest)
    if what == "many":
        held, statuses = [], []
        for _ in range(event["count"]):
            conn, data = through_proxy(f"CONNECT {event['target']} HTTP/1.1\\r\\n\\r\\n")
            held.append(conn)
            statuses.append(data.split(b"\\r\\n", 1)[0].decode())
        for conn in held:
            conn.close()
        return statuses
    if what == "urllib":
        try:
            return urllib.request.urlopen(event["url"], timeout=15).read().decode()
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {exc.read().decode()}"
    return "nothing"
"""


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from loopback {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def egress_sandbox():
    with sandbox(PROBE, network="egress", timeout=30) as process:
        yield process


def _forbidden_targets(port: int) -> list[str]:
    return [
        f"127.0.0.1:{port}",
        "127.0.0.1:5432",
        "127.0.0.1:6379",
        f"[::1]:{port}",
        "10.0.0.1:80",
        "172.16.0.1:80",
        "192.168.1.1:80",
        "100.64.0.1:80",
        "169.254.169.254:80",
        "[fd00:ec2::254]:80",
        "[fe80::1]:80",
        "0.0.0.0:80",
        "224.0.0.1:80",
        "255.255.255.255:80",
        f"localhost:{port}",
        f"{socket.gethostname()}:{port}",  # this machine's own name (loopback or a private address)
        f"[::ffff:127.0.0.1]:{port}",
        f"[::ffff:7f00:1]:{port}",
        f"[64:ff9b::7f00:1]:{port}",  # NAT64 of loopback
        f"[2002:7f00:1::1]:{port}",  # 6to4 of loopback
        f"[::127.0.0.1]:{port}",  # IPv4-compatible
        f"2130706433:{port}",  # decimal
        f"0x7f000001:{port}",  # hex
        f"0177.0.0.1:{port}",  # octal
        f"127.1:{port}",  # short form
        f"0:{port}",
    ]


def test_the_function_gets_proxy_settings(egress_sandbox) -> None:
    seen = value(egress_sandbox, {"what": "env"})
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        assert seen[name] == "http://127.0.0.1:3128"


def test_nothing_on_the_machine_is_reachable_directly(egress_sandbox, loopback_server: int) -> None:
    targets = [["127.0.0.1", 5432], ["127.0.0.1", 6379], ["127.0.0.1", 5672], ["127.0.0.1", loopback_server]]
    targets += [["::1", loopback_server], ["10.0.0.1", 80], ["169.254.169.254", 80], ["8.8.8.8", 53]]
    seen = value(egress_sandbox, {"what": "direct", "targets": targets})
    assert "connected" not in seen.values(), seen


def test_no_unix_socket_of_the_host_is_reachable(egress_sandbox) -> None:
    abstract = "\0baas-egress-test-" + uuid.uuid4().hex
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(abstract)  # an abstract socket: visible to every process of the host's network namespace
    listener.listen(1)
    try:
        paths = [abstract, "/run/postgresql/.s.PGSQL.5432", "/var/run/postgresql/.s.PGSQL.5432", "/tmp/.X11-unix/X0"]
        seen = value(egress_sandbox, {"what": "unix", "paths": paths})
    finally:
        listener.close()
    assert "connected" not in seen.values(), seen


def test_the_proxy_refuses_every_internal_address(egress_sandbox, loopback_server: int) -> None:
    targets = _forbidden_targets(loopback_server)
    seen = value(egress_sandbox, {"what": "connect", "targets": targets})
    wrong = {target: status for target, status in seen.items() if status != "HTTP/1.1 403 Forbidden"}
    assert wrong == {}, "not refused"


def test_plain_http_through_the_proxy_is_refused_too(egress_sandbox, loopback_server: int) -> None:
    answer = value(egress_sandbox, {"what": "urllib", "url": f"http://127.0.0.1:{loopback_server}/secret"})
    assert answer.startswith("HTTP 403: egress to 127.0.0.1:") and "loopback" in answer, answer
    answer = value(egress_sandbox, {"what": "urllib", "url": f"http://localhost:{loopback_server}/secret"})
    assert answer.startswith("HTTP 403"), answer


def test_an_allowed_network_is_reached(egress_sandbox, loopback_server: int, settings) -> None:
    settings.FUNCTIONS_EGRESS_ALLOW = ["127.0.0.1/32"]
    tunnel = value(egress_sandbox, {"what": "tunnel", "target": f"127.0.0.1:{loopback_server}"})
    assert tunnel.startswith("HTTP/1.0 200") and tunnel.endswith("hello from loopback /tunnel"), tunnel
    forwarded = value(egress_sandbox, {"what": "urllib", "url": f"http://127.0.0.1:{loopback_server}/plain"})
    assert forwarded == "hello from loopback /plain"
    # Only that network: the rest of loopback and other internal ranges stay closed.
    seen = value(egress_sandbox, {"what": "connect", "targets": [f"[::1]:{loopback_server}", "127.0.0.2:80"]})
    assert set(seen.values()) == {"HTTP/1.1 403 Forbidden"}, seen


def test_bad_proxy_requests_get_clear_errors(egress_sandbox) -> None:
    assert value(egress_sandbox, {"what": "raw", "request": "NONSENSE\r\n\r\n"}).startswith("HTTP/1.1 400")
    huge = "GET http://example.com/ HTTP/1.1\r\n" + "X-Pad: " + "a" * 40000 + "\r\n\r\n"
    assert value(egress_sandbox, {"what": "raw", "request": huge}).startswith("HTTP/1.1 431")
    answer = value(egress_sandbox, {"what": "raw", "request": "CONNECT no-such-host.invalid:443 HTTP/1.1\r\n\r\n"})
    assert answer.startswith("HTTP/1.1 502"), answer


def test_the_forwarder_does_not_count_as_work_left_running(egress_sandbox) -> None:
    assert value(egress_sandbox, {"what": "nothing"}) == "nothing"
    assert egress_sandbox.alive, "a quiet egress sandbox stays warm"


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "fd00:ec2::254", "::ffff:10.0.0.1", "ff02::1"]
)
def test_internal_addresses_do_not(address: str) -> None:
    assert egress.refusal(ipaddress.ip_address(address)) is not None


def test_one_sandbox_cannot_take_every_tunnel(egress_sandbox, loopback_server: int, settings) -> None:
    settings.FUNCTIONS_EGRESS_ALLOW = ["127.0.0.1/32"]
    target = f"127.0.0.1:{loopback_server}"
    statuses = value(egress_sandbox, {"what": "many", "target": target, "count": egress.MAX_TUNNELS_PER_SANDBOX + 1})
    assert statuses[:-1] == ["HTTP/1.1 200 Connection established"] * egress.MAX_TUNNELS_PER_SANDBOX
    assert statuses[-1] == "HTTP/1.1 503 Service Unavailable"
    # Its own share only: another sandbox still gets through meanwhile, and this one again once they closed.
    with sandbox(PROBE, network="egress", timeout=30) as other:
        assert value(other, {"what": "tunnel", "target": target}).endswith("hello from loopback /tunnel")
        assert other._launch.cleanup is not None
    assert value(egress_sandbox, {"what": "tunnel", "target": target}).endswith("hello from loopback /tunnel")


def test_a_sandbox_proxy_socket_goes_with_it() -> None:
    with sandbox(PROBE, network="egress", timeout=30) as process:
        sockets = {path for path in (paths.sandbox_root() / "egress").iterdir() if str(os.getpid()) in path.name}
        assert sockets
    after = {path for path in (paths.sandbox_root() / "egress").iterdir() if str(os.getpid()) in path.name}
    assert len(sockets - after) == 1
    assert not process.alive


def test_through_the_worker_an_egress_function_reaches_nothing_inside(functions_api, loopback_server: int) -> None:
    from tests.functions.conftest import deploy, invoke

    source = PROBE.replace('    what = event["what"]', '    event = event["payload"]\n    what = event["what"]')
    assert deploy(functions_api, "egress-probe", source, network="egress").status_code == 201
    direct = {"what": "direct", "targets": [["127.0.0.1", 5432], ["127.0.0.1", 6379], ["127.0.0.1", loopback_server]]}
    answer = invoke(functions_api, "egress-probe", direct).json()
    assert answer["invocation"]["status"] == "succeeded", answer
    assert "connected" not in answer["result"].values(), answer["result"]
    targets = [f"127.0.0.1:{loopback_server}", "127.0.0.1:5432", "localhost:6379", "169.254.169.254:80"]
    answer = invoke(functions_api, "egress-probe", {"what": "connect", "targets": targets}).json()
    assert set(answer["result"].values()) == {"HTTP/1.1 403 Forbidden"}, answer["result"]
