"""`create_async_client` (asyncio) and `create_client` (blocking: the same core on a private event-loop thread)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from ._http import Http
from ._util import JsonObject
from .auth import Auth, AuthListener, Session, SessionStorage, User
from .db import Collection, Db, Document, Page
from .functions import Functions, HttpAnswer, Invocation
from .realtime import Change, Channel, Realtime, Subscription
from .storage import Bucket, ObjectInfo, ProgressCallback, Storage

T = TypeVar("T")


class AsyncClient:
    def __init__(
        self,
        url: str,
        storage: SessionStorage | None = None,
        *,
        service_key: str | None = None,
        storage_key: str | None = None,
        auto_refresh: bool = True,
        refresh_margin: float | None = None,
        retries: int = 3,
        retry_delay: float = 0.3,
        max_retry_delay: float = 10.0,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        ping_interval: float = 20.0,
        ping_timeout: float = 10.0,
        reconnect_delay: float = 0.3,
        max_reconnect_delay: float = 10.0,
    ) -> None:
        self.http = Http(
            url,
            retries=retries,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        self.url = self.http.base
        self.auth = Auth(
            self.http,
            storage,
            storage_key=storage_key,
            auto_refresh=auto_refresh,
            refresh_margin=refresh_margin,
            service_key=service_key,
        )
        self.http.credentials = self.auth
        self._rt_opts = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "reconnect_delay": reconnect_delay,
            "max_reconnect_delay": max_reconnect_delay,
        }
        self._rt: Realtime | None = None
        self.db = Db(self.http, lambda: self.realtime)
        self.storage = Storage(self.http, lambda: self.realtime)
        self.functions = Functions(self.http)

    @property
    def realtime(self) -> Realtime:
        """The one multiplexed websocket of this client (opened on first use)."""
        if self._rt is None:
            self._rt = Realtime(self.http, self.auth, **self._rt_opts)
        return self._rt

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any API call, with this client's credentials, retries and error mapping."""
        return await self.http.request(method, path, **kwargs)

    async def aclose(self) -> None:
        """Stop timers, close the websocket and the HTTP connections."""
        self.auth.close()
        if self._rt is not None:
            await self._rt.disconnect()
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def create_async_client(url: str, storage: SessionStorage | None = None, **options: Any) -> AsyncClient:
    """An asyncio client. Options: service_key, storage_key, auto_refresh, refresh_margin, retries,
    retry_delay, max_retry_delay, headers, timeout, transport, ping_interval, ping_timeout,
    reconnect_delay, max_reconnect_delay (seconds)."""
    return AsyncClient(url, storage, **options)


# --- the blocking client -------------------------------------------------------------------------------


class _Loop:
    """A private event loop on a daemon thread; every blocking call runs its coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="baas-client", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("A blocking baas client call from its own callback thread; use the async client there.")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def go() -> T:
            return fn()

        return self.run(go())

    def stop(self) -> None:
        # Like asyncio.run's ending: cancel what is still running and let it unwind before the loop
        # stops, so no task is left pending in a loop that will never run it again.
        async def finish() -> None:
            rest = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            if rest:
                await asyncio.wait(rest, timeout=5)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(finish(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def _iterate(loop: _Loop, agen: Any) -> Iterator[Any]:
    while True:
        try:
            yield loop.run(agen.__anext__())
        except StopAsyncIteration:
            return


class SyncAuth:
    def __init__(self, loop: _Loop, a: Auth) -> None:
        self._l, self._a = loop, a

    def sign_up(self, email: str, password: str, data: JsonObject | None = None) -> Session:
        return self._l.run(self._a.sign_up(email, password, data))

    def sign_in(self, email: str, password: str) -> Session:
        return self._l.run(self._a.sign_in(email, password))

    def sign_in_anonymously(self, data: JsonObject | None = None) -> Session:
        return self._l.run(self._a.sign_in_anonymously(data))

    def sign_out(self, *, all: bool = False) -> None:
        self._l.run(self._a.sign_out(all=all))

    def get_user(self) -> User:
        return self._l.run(self._a.get_user())

    def update_user(
        self, *, email: str | None = None, password: str | None = None, data: JsonObject | None = None
    ) -> User:
        return self._l.run(self._a.update_user(email=email, password=password, data=data))

    def refresh(self) -> Session:
        return self._l.run(self._a.refresh())

    def get_session(self) -> Session | None:
        self._l.run(self._a.ready())
        return self._a.session

    @property
    def session(self) -> Session | None:
        return self.get_session()

    @property
    def refresh_count(self) -> int:
        return self._a.refresh_count

    def on_auth_state_change(self, cb: AuthListener) -> Callable[[], None]:
        """`cb(event, session)` — called on the client's loop thread."""
        off = self._l.call(lambda: self._a.on_auth_state_change(cb))
        self._l.run(self._a.ready())
        return lambda: self._l.call(off)


class SyncSubscription:
    def __init__(self, loop: _Loop, sub: Subscription) -> None:
        self._l, self._s = loop, sub

    @property
    def id(self) -> str:
        return self._s.id

    def wait_ready(self, timeout: float = 10.0) -> None:
        self._l.run(self._s.wait_ready(timeout))

    def unsubscribe(self) -> None:
        self._l.call(self._s.unsubscribe)

    def __call__(self) -> None:
        self.unsubscribe()


class SyncCollection:
    def __init__(self, loop: _Loop, c: Collection) -> None:
        self._l, self._c = loop, c
        self.name = c.name

    def create(self, data: JsonObject, *, id: str | None = None, idempotency_key: str | None = None) -> Document:
        return self._l.run(self._c.create(data, id=id, idempotency_key=idempotency_key))

    def get(self, id: str) -> Document:
        return self._l.run(self._c.get(id))

    def set(
        self, id: str, data: JsonObject, *, if_version: int | None = None, idempotency_key: str | None = None
    ) -> Document:
        return self._l.run(self._c.set(id, data, if_version=if_version, idempotency_key=idempotency_key))

    def update(
        self,
        id: str,
        data: JsonObject | None = None,
        *,
        ops: Mapping[str, Any] | None = None,
        if_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Document:
        return self._l.run(self._c.update(id, data, ops=ops, if_version=if_version, idempotency_key=idempotency_key))

    def delete(self, id: str, *, if_version: int | None = None, idempotency_key: str | None = None) -> None:
        self._l.run(self._c.delete(id, if_version=if_version, idempotency_key=idempotency_key))

    def list(
        self,
        *,
        filter: str | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Document]:
        return self._l.run(self._c.list(filter=filter, order=order, limit=limit, cursor=cursor))

    def count(self, *, filter: str | None = None) -> int:
        return self._l.run(self._c.count(filter=filter))

    def iterate(
        self, *, filter: str | None = None, order: str | Sequence[str] | None = None, limit: int | None = None
    ) -> Iterator[Document]:
        return _iterate(self._l, self._c.iterate(filter=filter, order=order, limit=limit))

    def __iter__(self) -> Iterator[Document]:
        return self.iterate()

    def subscribe(
        self,
        on_change: Callable[[Change], Any],
        *,
        filter: str | None = None,
        snapshot: bool = False,
        on_error: Callable[[Any], Any] | None = None,
    ) -> SyncSubscription:
        """Callbacks run on the client's loop thread; do not make blocking client calls from them."""
        sub = self._l.run(self._c.subscribe(on_change, filter=filter, snapshot=snapshot, on_error=on_error))
        return SyncSubscription(self._l, sub)


class SyncDb:
    def __init__(self, loop: _Loop, d: Db) -> None:
        self._l, self._d = loop, d

    def collection(self, name: str) -> SyncCollection:
        return SyncCollection(self._l, self._d.collection(name))

    def batch(self, ops: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None) -> list[Any]:
        return self._l.run(self._d.batch(ops, idempotency_key=idempotency_key))


class SyncBucket:
    def __init__(self, loop: _Loop, b: Bucket) -> None:
        self._l, self._b = loop, b
        self.name = b.name

    def upload(
        self,
        path: str,
        data: bytes | str,
        *,
        content_type: str | None = None,
        metadata: JsonObject | None = None,
        on_progress: ProgressCallback | None = None,
        upsert: bool = True,
    ) -> ObjectInfo:
        return self._l.run(
            self._b.upload(
                path, data, content_type=content_type, metadata=metadata, on_progress=on_progress, upsert=upsert
            )
        )

    def download(self, path: str, *, range: tuple[int, int | None] | str | None = None) -> httpx.Response:
        return self._l.run(self._b.download(path, range=range))

    def remove(self, path: str) -> None:
        self._l.run(self._b.remove(path))

    def list(
        self, *, prefix: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page[ObjectInfo]:
        return self._l.run(self._b.list(prefix=prefix, cursor=cursor, limit=limit))

    def iterate(self, *, prefix: str | None = None, limit: int | None = None) -> Iterator[ObjectInfo]:
        return _iterate(self._l, self._b.iterate(prefix=prefix, limit=limit))

    def signed_url(self, path: str, expires_in: int | None = None) -> str:
        return self._l.run(self._b.signed_url(path, expires_in))

    def subscribe(
        self,
        on_change: Callable[[Change], Any],
        *,
        filter: str | None = None,
        snapshot: bool = False,
        on_error: Callable[[Any], Any] | None = None,
    ) -> SyncSubscription:
        sub = self._l.run(self._b.subscribe(on_change, filter=filter, snapshot=snapshot, on_error=on_error))
        return SyncSubscription(self._l, sub)


class SyncStorage:
    def __init__(self, loop: _Loop, s: Storage) -> None:
        self._l, self._s = loop, s

    def bucket(self, name: str) -> SyncBucket:
        return SyncBucket(self._l, self._s.bucket(name))


class SyncFunctions:
    def __init__(self, loop: _Loop, f: Functions) -> None:
        self._l, self._f = loop, f

    def invoke(
        self, name: str, payload: Any = None, *, async_: bool = False, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self._l.run(self._f.invoke(name, payload, async_=async_, idempotency_key=idempotency_key))

    def http(self, name: str, path: str = "", **options: Any) -> HttpAnswer:
        """`Functions.http`: a request to the function's webhook route, its answer as it is."""
        return self._l.run(self._f.http(name, path, **options))

    def get(self, id: str) -> Invocation:
        return self._l.run(self._f.get(id))


class SyncChannel:
    def __init__(self, loop: _Loop, c: Channel) -> None:
        self._l, self._c = loop, c
        self.name = c.name

    def join(self, presence: JsonObject | None = None, *, timeout: float = 10.0) -> None:
        self._l.run(self._c.join(presence, timeout=timeout))

    def leave(self) -> None:
        self._l.call(self._c.leave)

    def broadcast(self, event: str, payload: Any = None) -> None:
        self._l.call(lambda: self._c.broadcast(event, payload))

    def on(self, kind: Any, cb: Callable[[Any], Any]) -> Callable[[], None]:
        off = self._l.call(lambda: self._c.on(kind, cb))
        return lambda: self._l.call(off)

    def presence(self) -> list[Any]:
        return self._l.call(self._c.presence)


class SyncRealtime:
    def __init__(self, loop: _Loop, client: AsyncClient) -> None:
        self._l, self._client = loop, client

    @property
    def _rt(self) -> Realtime:
        return self._l.call(lambda: self._client.realtime)

    def on(self, event: str, cb: Callable[..., Any]) -> Callable[[], None]:
        rt = self._rt
        off = self._l.call(lambda: rt.on(event, cb))
        return lambda: self._l.call(off)

    def channel(self, name: str) -> SyncChannel:
        rt = self._rt
        return SyncChannel(self._l, self._l.call(lambda: rt.channel(name)))

    def connect(self) -> None:
        rt = self._rt
        self._l.call(rt.connect)

    def disconnect(self) -> None:
        self._l.run(self._rt.disconnect())

    @property
    def connected(self) -> bool:
        return self._rt.connected


class Client:
    """The blocking client: every call runs on the client's private event-loop thread, so threads may share
    it (and race at token expiry: one refresh). Realtime and auth callbacks run on that thread."""

    def __init__(self, url: str, storage: SessionStorage | None = None, **options: Any) -> None:
        self._loop = _Loop()

        async def make() -> AsyncClient:
            return AsyncClient(url, storage, **options)

        self.aio = self._loop.run(make())
        """The underlying async client (use it from the loop thread only)."""
        self.url = self.aio.url
        self.auth = SyncAuth(self._loop, self.aio.auth)
        self.db = SyncDb(self._loop, self.aio.db)
        self.storage = SyncStorage(self._loop, self.aio.storage)
        self.functions = SyncFunctions(self._loop, self.aio.functions)
        self.realtime = SyncRealtime(self._loop, self.aio)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._loop.run(self.aio.request(method, path, **kwargs))

    def close(self) -> None:
        try:
            self._loop.run(self.aio.aclose(), timeout=10)
        finally:
            self._loop.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_client(url: str, storage: SessionStorage | None = None, **options: Any) -> Client:
    """A blocking client; the options of `create_async_client`."""
    return Client(url, storage, **options)
