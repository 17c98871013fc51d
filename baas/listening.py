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
there. Each worker's event loop (`OwnListenerLoop`) then opens its own listener in place of the
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


class OwnListenerLoop(asyncio.SelectorEventLoop):
    """A worker's loop: serving on a socket from `bind_shared` listens on a socket of its own."""

    async def create_server(self, protocol_factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> Any:
        if _shared_by_workers(sock):
            sock = _bound_reusing_port(sock.family, sock.getsockname()[:2])
        return await super().create_server(protocol_factory, *args, sock=sock, **kwargs)
