"""The sandbox's one channel to the platform: calls go to the worker and wait for its answer."""

from __future__ import annotations

import base64
import threading
from typing import Any

from baas_runtime import _protocol
from baas_runtime.errors import error_from

_lock = threading.Lock()
_channel: dict[str, int] = {}
_counter = [0]


def connect(*, read_fd: int, write_fd: int) -> None:
    _channel.update(read=read_fd, write=write_fd)


def call(method: str, **args: Any) -> Any:
    """Ask the worker to perform `method`; returns its value or raises the matching error."""
    if not _channel:
        raise RuntimeError("baas_runtime calls work only inside a deployed function")
    with _lock:  # one call in flight: the worker answers in order
        _counter[0] += 1
        call_id = _counter[0]
        _protocol.write_frame(_channel["write"], {"op": "call", "id": call_id, "method": method, "args": args})
        reply = _protocol.read_frame(_channel["read"])
    if reply.get("op") != "reply" or reply.get("id") != call_id:
        raise _protocol.ProtocolError("unexpected answer from the worker")
    if reply.get("ok"):
        return reply.get("value")
    raise error_from(reply.get("error") or {})


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_bytes(text: str) -> bytes:
    return base64.b64decode(text)
