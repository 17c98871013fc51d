"""Inside an egress sandbox: a forwarder from the sandbox's own 127.0.0.1:3128 to the worker's
filtering proxy, whose Unix socket is bound into the sandbox (functions/sandbox/egress.py).

The sandbox has a network namespace of its own with nothing but a loopback interface, so this is
its only way out; HTTP_PROXY, HTTPS_PROXY and ALL_PROXY point here, which urllib, requests, httpx
and curl honour. The forwarder is a separate process forked by the runtime before any user code
exists (so it is PID 3 in the sandbox, a number the worker expects), single-threaded, copying bytes
both ways; every decision is the proxy's.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket

HOST = "127.0.0.1"
PORT = 3128
CHUNK = 65536


def environment() -> dict[str, str]:
    url = f"http://{HOST}:{PORT}"
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    return {**{name: url for name in names}, **{name.lower(): url for name in names}}


def start(proxy_socket: str) -> None:
    """Fork the forwarder; returns in the parent once it listens."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen(64)
    if os.fork() != 0:
        listener.close()
        return
    try:
        _detach(listener.fileno())
        _serve(listener, proxy_socket)
    finally:
        os._exit(0)


def _detach(keep: int) -> None:
    """Let go of the worker's pipes (the worker must see end-of-file when the runtime dies)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.closerange(3, keep)
    os.closerange(keep + 1, 1024)


class _Link:
    """One client connection and its connection to the proxy; bytes are read from one side only
    while the other has taken everything read before (no unbounded buffers)."""

    def __init__(self, selector: selectors.BaseSelector, client: socket.socket, upstream: socket.socket) -> None:
        self.selector = selector
        self.ends = (client, upstream)
        self.pending = {client: b"", upstream: b""}  # bytes waiting to be written to that end
        self.done_reading = {client: False, upstream: False}
        for end in self.ends:
            end.setblocking(False)
            selector.register(end, selectors.EVENT_READ, self)

    def peer(self, end: socket.socket) -> socket.socket:
        return self.ends[1] if end is self.ends[0] else self.ends[0]

    def handle(self, end: socket.socket, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                self._write(end)
            if mask & selectors.EVENT_READ:
                self._read(end)
        except OSError:
            self.close()
            return
        if all(self.done_reading.values()) and not any(self.pending.values()):
            self.close()
            return
        self._update()

    def _read(self, end: socket.socket) -> None:
        data = end.recv(CHUNK)
        other = self.peer(end)
        if not data:
            self.done_reading[end] = True
            if not self.pending[other]:
                other.shutdown(socket.SHUT_WR)
            return
        self.pending[other] = data
        self._write(other)

    def _write(self, end: socket.socket) -> None:
        if not self.pending[end]:
            return
        with contextlib.suppress(BlockingIOError):
            sent = end.send(self.pending[end])
            self.pending[end] = self.pending[end][sent:]
        if not self.pending[end] and self.done_reading[self.peer(end)]:
            end.shutdown(socket.SHUT_WR)

    def _update(self) -> None:
        for end in self.ends:
            events = 0
            if not self.done_reading[end] and not self.pending[self.peer(end)]:
                events |= selectors.EVENT_READ
            if self.pending[end]:
                events |= selectors.EVENT_WRITE
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(end)
            if events:
                self.selector.register(end, events, self)

    def close(self) -> None:
        for end in self.ends:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(end)
            end.close()


def _serve(listener: socket.socket, proxy_socket: str) -> None:
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, mask in selector.select():
            if key.data is None:
                _accept(selector, listener, proxy_socket)
            else:
                key.data.handle(key.fileobj, mask)


def _accept(selector: selectors.BaseSelector, listener: socket.socket, proxy_socket: str) -> None:
    try:
        client, _ = listener.accept()
    except OSError:
        return
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(proxy_socket)
    except OSError:
        upstream.close()
        client.close()
        return
    _Link(selector, client, upstream)
