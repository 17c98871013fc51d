"""`baas serve --workers N`: a listening socket per worker, so the kernel spreads connections.

uvicorn's workers share the one socket its parent bound, and all of them are woken when a
connection arrives; asyncio then accepts for as long as connections wait, so a burst of new
connections — a client's pool opening 16 at once — went mostly to whichever worker woke first.
12 against 4 was the usual split here (bench/documents.py prints it), for granian's workers too,
and the worker with 12 ran out of CPU (one GIL per process) while the other idled: the swing of
the req/s figures between runs and most of the p99 tails. With SO_REUSEPORT each worker listens on
a socket of its own bound to the same address, and the kernel hands every new connection to one
of them by a hash of its addresses: no worker is favoured.

The parent binds the port with SO_REUSEPORT first (`bind_shared`), which reserves it and fails
early and clearly when it is taken; it never listens on that socket, so no connection waits
there. Each worker's event loop (`worker_loop`) then opens its own listener in place of the
inherited socket.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any


def _bound_reusing_port(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def bind_shared(host: str, port: int) -> socket.socket:
    """The parent's socket: bound with SO_REUSEPORT (so workers may bind the address too), not
    listening, inherited by the workers, which learn the address from it."""
    sock = _bound_reusing_port(socket.AF_INET6 if ":" in host else socket.AF_INET, (host, port))
    sock.set_inheritable(True)
    return sock


def _shared_by_workers(sock: Any) -> bool:
    return (
        sock is not None
        and sock.family in (socket.AF_INET, socket.AF_INET6)
        and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
    )


class _OwnListener:
    """Serving on a socket from `bind_shared` listens on a socket of its own (mixed into a loop class)."""

    async def create_server(self, protocol_factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> Any:
        if _shared_by_workers(sock):
            sock = _bound_reusing_port(sock.family, sock.getsockname()[:2])
        return await super().create_server(protocol_factory, *args, sock=sock, **kwargs)  # type: ignore[misc]


class AsyncioOwnListenerLoop(_OwnListener, asyncio.SelectorEventLoop):
    """asyncio's own loop, where uvloop is not installed."""


try:
    import uvloop
except ImportError:  # (uvicorn[standard] brings it on every platform we serve from)
    _WorkerLoop: type[asyncio.AbstractEventLoop] = AsyncioOwnListenerLoop
else:

    class UvloopOwnListenerLoop(_OwnListener, uvloop.Loop):  # type: ignore[misc]  # (uvloop's stubs against asyncio's)
        """uvloop, as uvicorn's default picks it."""

    _WorkerLoop = UvloopOwnListenerLoop


def worker_loop() -> asyncio.AbstractEventLoop:
    """A worker's event loop (uvicorn's `loop` setting takes this factory), with the listener of
    its own. uvloop where installed: a loop class derived from asyncio's loop alone, as this was at
    first, put every worker on asyncio's pure-Python selector loop, at more CPU per request
    (docs/serving.md, "Connections spread over the workers")."""
    return _WorkerLoop()
