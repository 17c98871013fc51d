"""baas_runtime: what a deployed function imports to declare triggers and reach the platform.

It runs inside the sandbox, on the standard library only (no Django, no database driver): every
`db` and `storage` call travels to the worker, which checks the deployment's permissions and
performs it as the function's own principal. A denied call raises `PermissionDenied`.

    from baas_runtime import on_http, db

    @on_http
    def hello(event, ctx):
        return db.collection("greetings").create({"to": event["payload"]["name"]})
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baas_runtime import _bridge
from baas_runtime._http import HttpResponse
from baas_runtime._registry import Handler, register
from baas_runtime.errors import (
    BaasError,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)

__all__ = [
    "BaasError",
    "Conflict",
    "Context",
    "HttpResponse",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "ctx",
    "db",
    "logger",
    "on_document_created",
    "on_document_deleted",
    "on_document_updated",
    "on_document_written",
    "on_http",
    "on_object_created",
    "on_object_deleted",
    "on_schedule",
    "storage",
]


# --- triggers -----------------------------------------------------------------------------------
def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _document_trigger(kind: str) -> Callable[..., Callable[[Handler], Handler]]:
    def decorator(collection: str, filter: str | None = None) -> Callable[[Handler], Handler]:
        if filter is not None and not isinstance(filter, str):
            raise ValueError("filter must be an expression string")
        return register({"type": f"document.{kind}", "collection": _name(collection, "collection"), "filter": filter})

    decorator.__name__ = f"on_document_{kind}"
    decorator.__doc__ = f"Run the handler when a document of `collection` is {kind} (optional filter)."
    return decorator


on_document_created = _document_trigger("created")
on_document_updated = _document_trigger("updated")
on_document_deleted = _document_trigger("deleted")
on_document_written = _document_trigger("written")


def _object_trigger(kind: str) -> Callable[..., Callable[[Handler], Handler]]:
    def decorator(bucket: str, prefix: str | None = None) -> Callable[[Handler], Handler]:
        if prefix is not None and not isinstance(prefix, str):
            raise ValueError("prefix must be a string")
        return register({"type": f"object.{kind}", "bucket": _name(bucket, "bucket"), "prefix": prefix})

    decorator.__name__ = f"on_object_{kind}"
    decorator.__doc__ = f"Run the handler when an object of `bucket` is {kind} (optional path prefix)."
    return decorator


on_object_created = _object_trigger("created")
on_object_deleted = _object_trigger("deleted")


def on_http(function: Handler | None = None) -> Any:
    """The handler of `POST /v1/functions/{name}/invoke` and of any request to
    `/v1/functions/{name}/http/{path}` (webhooks: the event then has `method`, `path`, `query`,
    `headers` and the raw `body` as bytes; return an `HttpResponse` to choose the status, headers
    and body). Usable as `@on_http` or `@on_http()`; a function has at most one."""
    if function is None:
        return register({"type": "http"})
    return register({"type": "http"})(function)


def on_schedule(
    cron: str | None = None, timezone: str = "UTC", *, every: int | None = None
) -> Callable[[Handler], Handler]:
    """Run the handler on a cron schedule (five fields: minute hour day month weekday, in
    `timezone`), or every `every` seconds. The event is `{id, type: "schedule", cron, every,
    timezone, time, seq: None, depth: 0}`."""
    if (cron is None) == (every is None):
        raise ValueError("on_schedule needs either a cron expression or every=<seconds>")
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError("every must be a whole number of seconds, at least 1")
        return register({"type": "schedule", "cron": None, "every": every, "timezone": _name(timezone, "timezone")})
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ValueError(f"cron must have five fields (minute hour day month weekday), not {cron!r}")
    return register({"type": "schedule", "cron": cron, "every": None, "timezone": _name(timezone, "timezone")})


# --- context --------------------------------------------------------------------------------------
@dataclass
class Context:
    """About the current invocation; handed to every handler as its second argument."""

    invocation_id: str | None = None
    event_id: str | None = None
    attempt: int = 0
    deadline: float | None = None  # time.time() by which the invocation is stopped
    function: str | None = None
    version: int | None = None
    trigger: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def remaining(self) -> float | None:
        """Seconds left before the invocation is stopped."""
        import time

        return None if self.deadline is None else max(0.0, self.deadline - time.time())


class _CurrentContext:
    """`ctx` at module level: reads the context of the invocation running now."""

    current = Context()

    def __getattr__(self, name: str) -> Any:
        return getattr(_CurrentContext.current, name)

    def __repr__(self) -> str:
        return repr(_CurrentContext.current)


ctx: Any = _CurrentContext()

# --- logging ---------------------------------------------------------------------------------------
logger = logging.getLogger("function")
if not logger.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


# --- documents -----------------------------------------------------------------------------------
class Collection:
    """One collection, as the REST API shows it. Needs `db:read:<name>` / `db:write:<name>`."""

    def __init__(self, name: str) -> None:
        self.name = _name(name, "collection")

    def create(self, data: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        return _bridge.call("db.create", collection=self.name, data=data, id=id)

    def get(self, id: str) -> dict[str, Any]:
        return _bridge.call("db.get", collection=self.name, id=id)

    def list(
        self,
        filter: str | None = None,
        order: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return _bridge.call("db.list", collection=self.name, filter=filter, order=order, limit=limit)

    def set(self, id: str, data: dict[str, Any]) -> dict[str, Any]:
        return _bridge.call("db.set", collection=self.name, id=id, data=data)

    def update(
        self,
        id: str,
        data: dict[str, Any] | None = None,
        ops: Any = None,
    ) -> dict[str, Any]:
        return _bridge.call("db.update", collection=self.name, id=id, data=data, ops=ops)

    def delete(self, id: str) -> None:
        _bridge.call("db.delete", collection=self.name, id=id)


class _Db:
    def collection(self, name: str) -> Collection:
        return Collection(name)


db = _Db()


# --- storage ---------------------------------------------------------------------------------------
class _Storage:
    """Objects in buckets. Needs `storage:read:<bucket>` / `storage:write:<bucket>`."""

    def read(self, bucket: str, path: str) -> bytes:
        return _bridge.decode_bytes(_bridge.call("storage.read", bucket=bucket, path=path))

    def write(self, bucket: str, path: str, data: bytes | str, content_type: str | None = None) -> dict[str, Any]:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return _bridge.call(
            "storage.write", bucket=bucket, path=path, data=_bridge.encode_bytes(raw), content_type=content_type
        )

    def delete(self, bucket: str, path: str) -> None:
        _bridge.call("storage.delete", bucket=bucket, path=path)

    def sign(self, bucket: str, path: str, expires_in: int = 3600) -> str:
        return _bridge.call("storage.sign", bucket=bucket, path=path, expires_in=int(expires_in))


storage = _Storage()
