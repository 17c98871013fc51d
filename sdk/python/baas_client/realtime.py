"""One multiplexed websocket per client: subscriptions resumed by `since`, channels rejoined, jittered backoff."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import websockets

from ._http import Http
from ._util import JsonObject, backoff, enc
from .errors import BaasError

if TYPE_CHECKING:
    from .auth import Auth, AuthEvent, Session


class Change(TypedDict, total=False):
    type: Literal["added", "modified", "removed"]
    doc: Any
    seq: int
    """Position in the server's event log; grows strictly across a subscription's changes."""
    snapshot: bool
    """Part of the initial snapshot."""
    resync: bool
    """Part of the difference reported after `resync_required`."""


# The id of our `auth` messages: the server echoes it in `authenticated`, or in the `error` refusing it.
AUTH_ID = "auth"


def _key(d: Any) -> str:
    return str(d.get("id") if d.get("id") is not None else d.get("path"))


def _stamp(d: Any) -> str:
    return str(d["version"]) if "version" in d else f"{d.get('etag')}|{d.get('updated_at')}"


_TASKS: set[asyncio.Future[Any]] = set()


def _spawn(aw: Any) -> None:
    """Run in the background, keeping a reference until done (the loop holds only weak ones)."""
    t = asyncio.ensure_future(aw)
    _TASKS.add(t)
    t.add_done_callback(_TASKS.discard)


async def _settle_spawned(timeout: float = 2.0) -> None:
    """Let this loop's background sends and closes finish (bounded: a send to a dead peer may hang)."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _TASKS if t.get_loop() is loop and t is not asyncio.current_task()]
    if mine:
        _done, pending = await asyncio.wait(mine, timeout=timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=timeout)


def _fire(cb: Callable[..., Any] | None, *args: Any) -> None:
    if cb is None:
        return
    try:
        r = cb(*args)
        if inspect.isawaitable(r):
            _spawn(r)
    except Exception:
        import traceback

        traceback.print_exc()


@dataclass(eq=False)
class Subscription:
    id: str
    target: dict[str, str]
    cb: Callable[[Change], Any]
    filter: str | None
    on_error: Callable[[BaasError], Any] | None
    mode: str  # fresh | snapshot | resync | since
    rt: Realtime
    seq: int | None = None
    known: dict[str, Any] = field(default_factory=dict)
    pending: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaasError | None = None

    def __call__(self) -> None:
        self.unsubscribe()

    def unsubscribe(self) -> None:
        self.rt._unsubscribe(self)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until the server has accepted the subscription (raises its refusal as a BaasError)."""
        await asyncio.wait_for(self.ready.wait(), timeout)
        if self.error:
            raise self.error


class Realtime:
    def __init__(
        self,
        http: Http,
        auth: Auth,
        *,
        ping_interval: float = 20.0,
        ping_timeout: float = 10.0,
        reconnect_delay: float = 0.3,
        max_reconnect_delay: float = 10.0,
    ) -> None:
        self._http = http
        self._auth = auth
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self._subs: dict[str, Subscription] = {}
        self._chans: dict[str, Channel] = {}
        self._n = 0
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        # Run loops cancelled but not yet finished (an idle shutdown does not wait for its task).
        self._stopping: set[asyncio.Task[None]] = set()
        self._wanted = False
        self._explicit = False
        self._lost_at = 0.0
        self._attempt = 0
        self._token: str | None = None
        self._user: str | None = None
        # Subscriptions and joins wait for `authenticated` when the token was refreshed while connecting.
        self._auth_wait = False
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        auth.on_auth_state_change(self._on_auth)

    # --- events ----------------------------------------------------------------------------------
    def on(self, event: str, cb: Callable[..., Any]) -> Callable[[], None]:
        """`connected`, `disconnected` ({code, reason}), `resumed` ({ms}), `resynced` ({subscription, added,
        modified, removed}), `error` (BaasError). Returns the unsubscribe."""
        self._listeners.setdefault(event, []).append(cb)
        return lambda: self._listeners.get(event, []).remove(cb) if cb in self._listeners.get(event, []) else None

    def _emit(self, event: str, *args: Any) -> None:
        for cb in list(self._listeners.get(event, [])):
            _fire(cb, *args)

    def _on_auth(self, event: AuthEvent, s: Session | None) -> None:
        user = s.user.get("id") if s else None
        if event == "INITIAL_SESSION":
            self._user = user
        elif event == "TOKEN_REFRESHED" and user == self._user:
            if self._token and s:
                self._token = s.access
                self._send({"op": "auth", "id": AUTH_ID, "token": s.access})
        elif user != self._user:
            # Another principal: reconnect, and reload every subscription (what it may see changed).
            self._user = user
            for sub in self._subs.values():
                if sub.seq is not None:
                    sub.mode = "resync"
            self._kick()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # --- connection --------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the connection now (it also opens on the first subscription or channel join)."""
        self._explicit = True
        self._ensure()

    def _ensure(self) -> None:
        self._wanted = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def disconnect(self) -> None:
        """Close the connection and stop reconnecting; subscriptions stay registered for a later connect()."""
        self._shutdown()
        # Wait for every cancelled run loop, an idle shutdown's included: a loop closed while one
        # is still unwinding would destroy it pending ("Task was destroyed but it is pending").
        waiting = [t for t in self._stopping if t is not asyncio.current_task()]
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)
        await _settle_spawned()

    def _shutdown(self) -> asyncio.Task[None] | None:
        """Stop now (synchronously, so a join or subscribe right after starts a new connection)."""
        self._explicit = self._wanted = False
        task, self._task = self._task, None
        was_up = self._ws is not None
        if task and not task.done():
            task.cancel()  # leaving `websockets.connect(...)` closes the socket
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        if was_up:
            self._lost()
            self._emit("disconnected", {"code": 1000, "reason": "client disconnect"})
        return task

    def _kick(self) -> None:
        """Drop the current socket (the run loop reconnects)."""
        ws = self._ws
        if ws is not None:
            _spawn(ws.close())

    def _idle(self) -> None:
        if not self._explicit and not self._subs and not any(c.joined for c in self._chans.values()):
            self._shutdown()

    async def _run(self) -> None:
        while self._wanted:
            code: int | None = None
            reason = ""
            try:
                token = await self._auth.token()
            except Exception:
                token = None
            self._token = token
            url = self._http.base.replace("http", "ws", 1) + "/v1/realtime" + (f"?token={enc(token)}" if token else "")
            try:
                async with websockets.connect(
                    url, max_size=None, ping_interval=None, open_timeout=self.ping_interval + self.ping_timeout
                ) as ws:
                    await self._session(ws)
                    code, reason = ws.close_code, ws.close_reason or ""
            except asyncio.CancelledError:
                raise
            except Exception as e:
                reason = repr(e)
                if isinstance(e, websockets.ConnectionClosed) and e.rcvd:
                    code = e.rcvd.code
            was_up = self._ws is not None
            self._lost()
            if was_up:
                self._emit("disconnected", {"code": code, "reason": reason})
            if not self._wanted:
                return
            await asyncio.sleep(backoff(self._attempt, self.reconnect_delay, self.max_reconnect_delay))
            self._attempt += 1
            if code == 4001 and not self._auth.service_key:
                # Closed for its credentials: refresh first; a refused refresh signs out (then anonymous).
                with contextlib.suppress(Exception):
                    await self._auth.refresh()

    async def _session(self, ws: Any) -> None:
        self._ws = ws
        now = self._auth.session.access if self._auth.session else None
        self._emit("connected")
        # Refreshed while connecting: subscribe under the new token once the server has it in force.
        self._auth_wait = bool(self._token and now and now != self._token and not self._auth.service_key)
        if self._auth_wait:
            self._token = now
            self._send({"op": "auth", "id": AUTH_ID, "token": now})
        else:
            self._resubscribe()
        last_rx = time.monotonic()

        async def pinger() -> None:
            while True:
                await asyncio.sleep(self.ping_interval)
                if time.monotonic() - last_rx > self.ping_interval + self.ping_timeout:
                    await ws.close(4000, "ping timeout")
                    return
                self._send({"op": "ping"})

        ping = asyncio.ensure_future(pinger())
        try:
            async for raw in ws:
                last_rx = time.monotonic()
                try:
                    m = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(m, dict):
                    self._handle(m)
        finally:
            ping.cancel()

    def _resubscribe(self) -> None:
        self._auth_wait = False
        for sub in list(self._subs.values()):
            self._send_sub(sub)
        for c in list(self._chans.values()):
            c._rejoin()
        self._check_resumed()

    def _lost(self) -> None:
        self._ws = None
        if not self._lost_at:
            self._lost_at = time.monotonic()
        for sub in self._subs.values():
            sub.pending = False
        for c in self._chans.values():
            c._pending = False

    def _send(self, m: dict[str, Any]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        _spawn(self._send_now(ws, json.dumps(m)))
        return True

    @staticmethod
    async def _send_now(ws: Any, data: str) -> None:
        with contextlib.suppress(Exception):
            await ws.send(data)

    # --- subscriptions ---------------------------------------------------------------------------
    async def subscribe(
        self,
        target: dict[str, str],
        cb: Callable[[Change], Any],
        *,
        filter: str | None = None,
        snapshot: bool = False,
        on_error: Callable[[BaasError], Any] | None = None,
    ) -> Subscription:
        self._n += 1
        sub = Subscription(f"s{self._n}", dict(target), cb, filter, on_error, "snapshot" if snapshot else "fresh", self)
        self._subs[sub.id] = sub
        if self._ws is not None:
            self._send_sub(sub)
        else:
            self._ensure()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if self._subs.pop(sub.id, None) is not None:
            self._send({"op": "unsubscribe", "id": sub.id})
        self._idle()

    def _send_sub(self, sub: Subscription) -> None:
        m: dict[str, Any] = {"op": "subscribe", "id": sub.id, **sub.target}
        if sub.filter is not None:
            m["filter"] = sub.filter
        if sub.mode == "since" and sub.seq is not None:
            m["since"] = sub.seq
        elif sub.mode in ("snapshot", "resync"):
            m["snapshot"] = True  # collections and buckets alike
        sub.pending = True
        if not self._auth_wait:
            self._send(m)

    def _check_resumed(self) -> None:
        if not self._lost_at or self._ws is None:
            return
        if any(s.pending for s in self._subs.values()) or any(c._pending for c in self._chans.values()):
            return
        self._emit("resumed", {"ms": (time.monotonic() - self._lost_at) * 1000})
        self._lost_at = 0.0
        self._attempt = 0

    def _deliver(self, sub: Subscription, c: Change) -> None:
        k = _key(c["doc"])
        if c["type"] == "removed":
            sub.known.pop(k, None)
        else:
            sub.known[k] = c["doc"]
        _fire(sub.cb, c)

    def _handle(self, m: dict[str, Any]) -> None:
        op = m.get("op")
        sub = self._subs.get(m["id"]) if isinstance(m.get("id"), str) else None
        if op == "subscribed":
            if not sub:
                return
            if sub.mode in ("fresh", "since"):
                sub.seq = m["seq"]
                sub.mode = "since"
                sub.pending = False
                sub.ready.set()
            self._check_resumed()
        elif op == "snapshot":
            if sub:
                self._apply_snapshot(sub, m.get("docs") or [], m["seq"])
            self._check_resumed()
        elif op == "change":
            if not sub or sub.seq is None or m["seq"] <= sub.seq:
                return  # a duplicate: already delivered
            sub.seq = m["seq"]
            self._deliver(sub, {"type": m["type"], "doc": m["doc"], "seq": m["seq"]})
        elif op == "authenticated":
            if self._auth_wait:
                self._resubscribe()
        elif op in ("presence", "broadcast"):
            c = self._chans.get(m.get("channel", ""))
            if c:
                c._handle(m)
        elif op == "error":
            err = BaasError(
                m.get("code", "internal_error"), m.get("message") or m.get("code", ""), 0, m.get("details") or {}
            )
            if m.get("id") == AUTH_ID:
                self._kick()  # a refused token (another user, already expired): reconnect with a fresh one
                return
            if sub:
                if err.code == "resync_required":
                    sub.mode = "resync"
                    self._send_sub(sub)
                    return
                self._subs.pop(sub.id, None)
                sub.error = err
                sub.ready.set()
                _fire(sub.on_error, err)
                self._check_resumed()
                return
            mid = str(m.get("id") or "")
            chan = self._chans.get(m.get("channel") or mid[2:])
            if chan and (m.get("channel") or mid.startswith("j:")):
                chan._error(err)
                return
            self._emit("error", err)

    def _apply_snapshot(self, sub: Subscription, docs: list[Any], seq: int) -> None:
        """Report what changed between what the subscriber saw and the fresh state."""
        resync = sub.mode == "resync"
        before = sub.known
        counts = {"added": 0, "modified": 0, "removed": 0}
        sub.known = {}
        sub.mode = "since"
        sub.seq = seq
        sub.pending = False
        sub.ready.set()
        for d in docs:
            old = before.get(_key(d))
            kind = "added" if old is None else ("modified" if _stamp(old) != _stamp(d) else None)
            sub.known[_key(d)] = d
            if kind:
                counts[kind] += 1
                c: Change = {"type": kind, "doc": d, "seq": seq}  # type: ignore[typeddict-item]
                c["resync" if resync else "snapshot"] = True
                _fire(sub.cb, c)
        for k, d in before.items():
            if k not in sub.known:
                counts["removed"] += 1
                _fire(sub.cb, {"type": "removed", "doc": d, "seq": seq, "resync": True})
        if resync:
            self._emit("resynced", {"subscription": sub.id, **counts})

    # --- channels ---------------------------------------------------------------------------------
    def channel(self, name: str) -> Channel:
        c = self._chans.get(name)
        if c is None:
            c = self._chans[name] = Channel(self, name)
        return c


class Member(TypedDict):
    id: str
    user: str | None
    state: JsonObject


class Channel:
    """A broadcast and presence channel. Joins again by itself after a reconnect."""

    def __init__(self, rt: Realtime, name: str) -> None:
        self._rt = rt
        self.name = name
        self.joined = False
        self._state: JsonObject = {}
        self._members: dict[str, Member] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._queue: list[dict[str, Any]] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._pending = False

    async def join(self, presence: JsonObject | None = None, *, timeout: float = 10.0) -> None:
        """Join, publishing `presence` to the others; returns once the server has admitted us."""
        self.joined = True
        self._state = presence or {}
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        if not self._rejoin():
            self._rt._ensure()
        await asyncio.wait_for(asyncio.shield(fut), timeout)

    def leave(self) -> None:
        self.joined = False
        self._pending = False
        self._rt._send({"op": "leave", "channel": self.name})
        self._members.clear()
        self._rt._idle()

    def broadcast(self, event: str, payload: Any = None) -> None:
        """Send to the others in the channel (queued while reconnecting)."""
        m = {"op": "broadcast", "channel": self.name, "event": event, "payload": payload}
        if self._pending or not self._rt._send(m):
            self._queue.append(m)

    def on(self, kind: Literal["broadcast", "presence", "error"], cb: Callable[[Any], Any]) -> Callable[[], None]:
        """`broadcast`: {event, payload, from}; `presence`: {joins, leaves, members}; `error`: BaasError."""
        self._listeners.setdefault(kind, []).append(cb)
        return lambda: self._listeners[kind].remove(cb) if cb in self._listeners[kind] else None

    def presence(self) -> list[Member]:
        return list(self._members.values())

    def _emit(self, kind: str, arg: Any) -> None:
        for cb in list(self._listeners.get(kind, [])):
            _fire(cb, arg)

    def _rejoin(self) -> bool:
        if not self.joined:
            return False
        self._pending = self._rt._send(
            {"op": "join", "id": f"j:{self.name}", "channel": self.name, "presence": self._state}
        )
        return self._pending

    def _handle(self, m: dict[str, Any]) -> None:
        if m["op"] == "broadcast":
            self._emit("broadcast", {"event": m.get("event"), "payload": m.get("payload"), "from": m.get("from")})
            return
        joins: list[Member] = m.get("joins") or []
        leaves: list[Member] = m.get("leaves") or []
        if self._pending:
            # The full state after a (re)join: report the difference from what we knew.
            self._pending = False
            now = {x["id"]: x for x in joins}
            joins = [x for x in joins if x["id"] not in self._members]
            leaves = [x for k, x in self._members.items() if k not in now]
            self._members = now
            for f in self._waiting:
                if not f.done():
                    f.set_result(None)
            self._waiting.clear()
            queued, self._queue = self._queue, []
            for q in queued:
                self._rt._send(q)
            self._rt._check_resumed()
        else:
            for x in joins:
                self._members[x["id"]] = x
            for x in leaves:
                self._members.pop(x["id"], None)
        if joins or leaves:
            self._emit("presence", {"joins": joins, "leaves": leaves, "members": self.presence()})

    def _error(self, e: BaasError) -> None:
        if self._pending:
            self._pending = False
            self.joined = False
            for f in self._waiting:
                if not f.done():
                    f.set_exception(e)
            self._waiting.clear()
            self._rt._check_resumed()
        self._emit("error", e)
