"""The only way out of a `network: "egress"` sandbox: a filtering HTTP proxy run by the worker.

Every sandbox has its own network namespace (nothing but its own loopback). An egress sandbox also
gets a proxy socket of its own (a Unix socket served by the worker process) bound in at
`SANDBOX_SOCKET`; inside, a forwarder
the runtime starts before any user code (baas_runtime/_egress.py) listens on the sandbox's own
127.0.0.1:3128 and passes each connection through, and HTTP_PROXY/HTTPS_PROXY/ALL_PROXY point
there. So the sandbox reaches nothing on the host's network by itself: not its loopback services,
not its Unix sockets (abstract ones belong to the network namespace), not the private network.

The proxy speaks HTTP/1.1 `CONNECT host:port` (tunnels, HTTPS) and plain-HTTP forwarding
(`GET http://host/…`, one request per connection). It resolves the name itself, refuses with
403 when no resolved address is a public unicast one (`refusal()`, the check in baas/egress.py
that outgoing webhooks share), and connects to exactly the
address it checked — there is no second lookup for a rebinding DNS server to answer differently.
`FUNCTIONS_EGRESS_ALLOW` lists networks (CIDR) an operator allows beyond that, e.g. an internal API
meant for functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from baas import egress as egress_rules
from functions.sandbox import paths

logger = logging.getLogger("baas.functions.sandbox")

SANDBOX_SOCKET = "/run/baas/egress.sock"
HEAD_LIMIT = 16 * 1024  # bytes of request line and headers
HEAD_TIMEOUT = 10.0  # seconds to send them
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0  # a tunnel with no traffic either way for this long is closed
MAX_TUNNELS = 256  # per worker process
MAX_TUNNELS_PER_SANDBOX = 32


def refusal(address: egress_rules.Address) -> str | None:
    """Why the proxy must not connect to `address`, or None when it may (baas/egress.py: only
    public unicast addresses, and those FUNCTIONS_EGRESS_ALLOW names)."""
    return egress_rules.refusal(address, settings.FUNCTIONS_EGRESS_ALLOW)


class Refused(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def registry_hosts(urls: Iterable[str]) -> frozenset[tuple[str, int]]:
    """(host, port) of each package registry URL: the only places a dependency step may reach."""
    hosts = set()
    for url in urls:
        parts = urlsplit(url.split("=", 1)[1] if url.startswith(("npm=", "jsr=")) else url)
        if parts.hostname:
            hosts.add((parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)))
    return frozenset(hosts)


# An operator-configured registry may be anywhere, loopback and private networks included.
_ANYWHERE = ("0.0.0.0/0", "::/0")


def connect(host: str, port: int, hosts: frozenset[tuple[str, int]] | None = None) -> socket.socket:
    """A connection to the first allowed address `host` resolves to. With `hosts` (a dependency
    step), only those hosts and ports, at whatever address they have. Raises Refused."""
    allow: Iterable[str] = settings.FUNCTIONS_EGRESS_ALLOW
    if hosts is not None:
        if (host.lower(), port) not in hosts:
            raise Refused(403, "Forbidden", f"{host}:{port} is not a configured package registry")
        allow = _ANYWHERE
    try:
        destinations = egress_rules.resolve(host, port, allow)
    except egress_rules.Unresolvable as exc:
        raise Refused(502, "Bad Gateway", str(exc)) from None
    except egress_rules.Forbidden as exc:
        raise Refused(403, "Forbidden", f"egress to {exc}") from None
    failures = []
    for destination in destinations:
        upstream = socket.socket(destination.family, destination.kind, destination.proto)
        upstream.settimeout(CONNECT_TIMEOUT)
        try:
            upstream.connect(destination.sockaddr)  # exactly the address just checked
        except OSError as exc:
            upstream.close()
            failures.append(f"{destination.address}: {exc.strerror or exc}")
            continue
        return upstream
    raise Refused(502, "Bad Gateway", f"could not connect to {host}:{port} ({'; '.join(failures)})")


def _target(authority: str, default_port: int | None) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) → (host, port). Raises Refused."""
    try:
        parts = urlsplit("//" + authority)
        host, port = parts.hostname, parts.port or default_port
    except ValueError:
        host, port = None, None
    if not host or not port or parts.username is not None or parts.password is not None:
        raise Refused(400, "Bad Request", f"not a host and port: {authority!r}")
    return host, port


class Proxy:
    """The proxy endpoint of one sandbox: its own Unix socket, a thread per connection. Each sandbox
    has its own, so that one function holding many tunnels cannot take another's share: at most
    `MAX_TUNNELS_PER_SANDBOX` each, and `MAX_TUNNELS` in all for the worker process."""

    def __init__(self, path: Path, hosts: frozenset[tuple[str, int]] | None = None) -> None:
        self.path = path
        self.hosts = hosts  # a dependency step's proxy: these registries only (registry_hosts)
        self._slots = threading.BoundedSemaphore(MAX_TUNNELS_PER_SANDBOX)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        os.chmod(path, 0o666)  # the sandbox uid connects to it
        self._listener.listen(64)
        self._closed = False
        threading.Thread(target=self._accept_forever, daemon=True, name="sandbox-egress").start()

    def close(self) -> None:
        """Stop accepting (the sandbox is gone); open tunnels end with their connections."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept_forever(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.1)
                continue
            if not self._slots.acquire(blocking=False):
                _refuse_later(client, "too many egress connections from this sandbox")
                continue
            if not _all_slots.acquire(blocking=False):
                self._slots.release()
                _refuse_later(client, "too many egress connections on this worker")
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True, name="sandbox-egress-conn").start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(HEAD_TIMEOUT)
            head, rest = _read_head(client)
            upstream, first_bytes = _open(head, self.hosts)
            with upstream:
                if first_bytes is None:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                else:
                    upstream.sendall(first_bytes)
                if rest:
                    upstream.sendall(rest)
                _splice(client, upstream)
        except Refused as refused:
            _answer(client, refused)
        except OSError:
            pass
        except Exception:
            logger.warning("egress proxy: a connection failed", exc_info=True)
        finally:
            client.close()
            self._slots.release()
            _all_slots.release()


def _refuse_later(client: socket.socket, message: str) -> None:
    """Answer 503 once the request has arrived (closing a socket with unread data could reset it
    before the answer is read), in a short-lived thread of a bounded few; beyond those, just close."""
    if not _refusers.acquire(blocking=False):
        client.close()
        return

    def refuse() -> None:
        try:
            client.settimeout(2.0)
            with contextlib.suppress(Refused, OSError):
                _read_head(client)
            _answer(client, Refused(503, "Service Unavailable", message))
        finally:
            client.close()
            _refusers.release()

    threading.Thread(target=refuse, daemon=True, name="sandbox-egress-refuse").start()


def _read_head(client: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            raise Refused(431, "Request Header Fields Too Large", "the request head is too large")
        try:
            chunk = client.recv(4096)
        except TimeoutError:
            raise Refused(408, "Request Timeout", "the request head did not arrive in time") from None
        if not chunk:
            raise OSError("the client went away")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def _open(head: bytes, hosts: frozenset[tuple[str, int]] | None = None) -> tuple[socket.socket, bytes | None]:
    """Connect as the request asks. Returns the upstream socket and, for plain HTTP, the head to
    send it (None for CONNECT). Raises Refused."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise Refused(400, "Bad Request", "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise Refused(400, "Bad Request", "HTTP/1.x only")
    if method.upper() == "CONNECT":
        return connect(*_target(target, None), hosts), None
    parts = urlsplit(target)
    if parts.scheme.lower() != "http" or not parts.netloc:
        raise Refused(400, "Bad Request", "a proxy request needs an absolute http:// URL (use CONNECT for https)")
    host, port = _target(parts.netloc, 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # One request per connection: the next one might name another host.
    headers = [
        line
        for line in lines[1:]
        if line.split(":", 1)[0].strip().lower() not in ("connection", "proxy-connection", "keep-alive")
    ]
    upstream = connect(host, port, hosts)
    request = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
    return upstream, request.encode("latin-1")


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    """Copy both ways until both sides are done (or idle too long)."""
    for end in (client, upstream):
        end.settimeout(IDLE_TIMEOUT)
    other = threading.Thread(target=_copy, args=(upstream, client), daemon=True, name="sandbox-egress-copy")
    other.start()
    _copy(client, upstream)
    other.join()


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _answer(client: socket.socket, refused: Refused) -> None:
    body = (refused.message + "\n").encode()
    head = (
        f"HTTP/1.1 {refused.status} {refused.reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + body)


_all_slots = threading.BoundedSemaphore(MAX_TUNNELS)
_refusers = threading.BoundedSemaphore(16)
_folder_ready: set[int] = set()


def open_proxy(hosts: frozenset[tuple[str, int]] | None = None) -> Proxy:
    """A new proxy endpoint for one sandbox; close it when the sandbox is gone. With `hosts`, it
    reaches those (host, port) pairs only (a dependency step's package registries)."""
    folder = paths.sandbox_root() / "egress"
    if os.getpid() not in _folder_ready:  # once per process (a forked child too)
        folder.mkdir(exist_ok=True)
        folder.chmod(0o711)
        _remove_stale_sockets(folder)
        _folder_ready.add(os.getpid())
    return Proxy(folder / f"{os.getpid()}-{uuid.uuid4().hex[:16]}.sock", hosts)


def _remove_stale_sockets(folder: Path) -> None:
    """Sockets of worker processes that are gone (killed before they could remove theirs)."""
    for entry in folder.glob("*.sock"):
        owner = entry.stem.split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                entry.unlink()
