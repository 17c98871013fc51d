"""Sessions: sign-up/in, refresh before expiry (one at a time), persistence through a pluggable storage."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypedDict

from ._http import Http
from ._util import JsonObject
from .errors import BaasError


class User(TypedDict, total=False):
    id: str
    email: str | None
    is_anonymous: bool
    email_verified: bool
    data: JsonObject
    claims: JsonObject
    created_at: str
    pending_email: str


@dataclass(frozen=True)
class Session:
    access: str
    refresh: str
    user: User
    expires_at: float
    """When the access token expires, seconds since the epoch (0: unknown)."""


AuthEvent = Literal["INITIAL_SESSION", "SIGNED_IN", "SIGNED_OUT", "TOKEN_REFRESHED", "USER_UPDATED"]
AuthListener = Callable[[AuthEvent, "Session | None"], None]


class SessionStorage(Protocol):
    """Where the session is kept. Methods may be plain or `async def`."""

    def get_item(self, key: str) -> Any: ...
    def set_item(self, key: str, value: str) -> Any: ...
    def remove_item(self, key: str) -> Any: ...


class MemoryStorage:
    def __init__(self) -> None:
        self._m: dict[str, str] = {}
        self._lock = threading.Lock()

    def get_item(self, key: str) -> str | None:
        with self._lock:
            return self._m.get(key)

    def set_item(self, key: str, value: str) -> None:
        with self._lock:
            self._m[key] = value

    def remove_item(self, key: str) -> None:
        with self._lock:
            self._m.pop(key, None)


class FileStorage:
    """A JSON file of key → value, written atomically (shared by processes on one machine)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write(self, data: dict[str, str]) -> None:

        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)

    def get_item(self, key: str) -> str | None:
        with self._lock:
            return self._read().get(key)

    def set_item(self, key: str, value: str) -> None:
        with self._lock:
            data = self._read()
            data[key] = value
            self._write(data)

    def remove_item(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)


async def _maybe(v: Any) -> Any:
    return await v if inspect.isawaitable(v) else v


def decode_exp(jwt: str) -> tuple[float, float]:
    """(exp, iat) of a JWT, seconds; (0, 0) when unreadable."""
    try:
        p = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        return float(claims.get("exp") or 0), float(claims.get("iat") or 0)
    except Exception:
        return 0.0, 0.0


class Auth:
    """`client.auth` of an async client (the sync client wraps it)."""

    def __init__(
        self,
        http: Http,
        storage: SessionStorage | None = None,
        *,
        storage_key: str | None = None,
        auto_refresh: bool = True,
        refresh_margin: float | None = None,
        service_key: str | None = None,
    ) -> None:
        self._http = http
        self._storage: SessionStorage = storage if storage is not None else MemoryStorage()
        self._key = storage_key or "baas.session." + http.base.split("://", 1)[-1]
        self._auto = auto_refresh
        self._margin_opt = refresh_margin
        self.service_key = service_key
        self.session: Session | None = None
        self._loaded = False
        self._loading: asyncio.Future[None] | None = None
        self._listeners: list[AuthListener] = []
        self._refreshing: asyncio.Future[Session] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._bg: asyncio.Task[None] | None = None
        self._closed = False
        self.refresh_count = 0
        """How many refresh requests this client sent (diagnostics)."""

    # --- storage ---------------------------------------------------------------------------------
    async def _load(self) -> Session | None:
        raw = await _maybe(self._storage.get_item(self._key))
        if not raw:
            return None
        s = json.loads(raw)
        if not (isinstance(s, dict) and s.get("access") and s.get("refresh")):
            return None
        return Session(s["access"], s["refresh"], s.get("user") or {}, decode_exp(s["access"])[0])

    async def _save(self, s: Session | None) -> None:
        try:
            if s:
                value = json.dumps({"access": s.access, "refresh": s.refresh, "user": s.user})
                await _maybe(self._storage.set_item(self._key, value))
            else:
                await _maybe(self._storage.remove_item(self._key))
        except Exception:
            pass

    async def ready(self) -> None:
        """Load the stored session (once; concurrent callers wait for the same load)."""
        if self._loaded:
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._first_load())
        await asyncio.shield(self._loading)

    async def _first_load(self) -> None:
        try:
            s = await self._load()
        except Exception:
            s = None
        self._loaded = True
        self._set(s, None)
        for cb in list(self._listeners):
            self._call(cb, "INITIAL_SESSION", self.session)

    def _adopt(self, s: Session | None) -> None:
        cur = self.session
        if (s.refresh if s else None) == (cur.refresh if cur else None):
            return
        if not s:
            self._set(None, "SIGNED_OUT")
        else:
            same = cur is not None and cur.user.get("id") == s.user.get("id")
            self._set(s, "TOKEN_REFRESHED" if same else "SIGNED_IN")

    def _set(self, s: Session | None, event: AuthEvent | None) -> None:
        self.session = s
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if s and s.expires_at and self._auto and not self._closed:
            wait = s.expires_at - self._margin(s) - time.time()
            self._schedule(s, max(wait, 0) + random.random())
        if event:
            for cb in list(self._listeners):
                self._call(cb, event, s)

    def _schedule(self, s: Session, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def run() -> None:
            async def go() -> None:
                try:
                    await self.refresh()
                except Exception:
                    # Offline: try again soon, while this session is still the one (a 401 signed out).
                    if self.session is s and not self._closed:
                        self._schedule(s, 5.0)

            if self.session is s and not self._closed:
                self._bg = loop.create_task(go())

        self._timer = loop.call_later(delay, run)

    @staticmethod
    def _call(cb: AuthListener, event: AuthEvent, s: Session | None) -> None:
        try:
            cb(event, s)
        except Exception:
            import traceback

            traceback.print_exc()

    def _margin(self, s: Session) -> float:
        if self._margin_opt is not None:
            return self._margin_opt
        exp, iat = decode_exp(s.access)
        return min(60.0, (exp - iat) / 4 if iat else 60.0)

    async def _start(self, answer: dict[str, Any], event: AuthEvent, user: User | None = None) -> Session:
        s = Session(
            answer["access"], answer["refresh"], answer.get("user") or user or {}, decode_exp(answer["access"])[0]
        )
        await self._save(s)
        self._set(s, event)
        return s

    # --- credentials for the HTTP core and realtime ---------------------------------------------------
    async def token(self) -> str | None:
        if self.service_key:
            return self.service_key
        await self.ready()
        s = self.session
        if not s:
            return None
        if s.expires_at and s.expires_at - time.time() < self._margin(s):
            try:
                return (await self.refresh()).access
            except Exception:
                # Offline: keep using the token while it is still valid; signed out: no token.
                if self.session is s and s.expires_at > time.time():
                    return s.access
                return self.session.access if self.session else None
        return s.access

    async def rejected(self, token: str, code: str) -> bool:
        if self.service_key or not self.session:
            return False
        if self.session.access != token:
            return True  # refreshed meanwhile
        try:
            await self.refresh()
            return True
        except Exception:
            return False

    # --- public API ------------------------------------------------------------------------------
    async def sign_up(self, email: str, password: str, data: JsonObject | None = None) -> Session:
        body: dict[str, Any] = {"email": email, "password": password}
        if data is not None:
            body["data"] = data
        a = await self._http.request("POST", "/v1/auth/signup", json_body=body, anonymous=True)
        await self.ready()
        return await self._start(a, "SIGNED_IN")

    async def sign_in(self, email: str, password: str) -> Session:
        a = await self._http.request(
            "POST", "/v1/auth/token", json_body={"email": email, "password": password}, anonymous=True
        )
        await self.ready()
        return await self._start(a, "SIGNED_IN")

    async def sign_in_anonymously(self, data: JsonObject | None = None) -> Session:
        a = await self._http.request(
            "POST", "/v1/auth/anonymous", json_body={"data": data} if data else {}, anonymous=True
        )
        await self.ready()
        return await self._start(a, "SIGNED_IN")

    async def sign_out(self, *, all: bool = False) -> None:
        """End this session on the server (every session with `all`), then locally — locally even offline."""
        await self.ready()
        s = self.session
        try:
            if s:
                token = await self.token()
                body: dict[str, Any] = {"refresh": self.session.refresh if self.session else s.refresh}
                if all:
                    body["all"] = True
                await self._http.request(
                    "POST",
                    "/v1/auth/logout",
                    json_body=body,
                    anonymous=True,
                    headers={"authorization": f"Bearer {token}"} if token else None,
                )
        except BaasError as e:
            if e.status not in (401, 0):
                raise
        finally:
            if s:
                await self._save(None)
                self._set(None, "SIGNED_OUT")

    async def get_user(self) -> User:
        user: User = await self._http.request("GET", "/v1/auth/user")
        if self.session and self.session.user.get("id") == user.get("id"):
            self.session = replace(self.session, user=user)
            await self._save(self.session)
        return user

    async def update_user(
        self, *, email: str | None = None, password: str | None = None, data: JsonObject | None = None
    ) -> User:
        """`data` replaces the profile data; a new email waits for confirmation (`pending_email`)."""
        patch = {k: v for k, v in (("email", email), ("password", password), ("data", data)) if v is not None}
        user: User = await self._http.request("PATCH", "/v1/auth/user", json_body=patch)
        if self.session:
            s = replace(self.session, user=user)
            await self._save(s)
            self._set(s, "USER_UPDATED")
        return user

    def get_session(self) -> Session | None:
        return self.session

    async def refresh(self) -> Session:
        """Rotate the refresh token. One refresh at a time: concurrent callers share the one in flight."""
        if self._refreshing is None:
            fut: asyncio.Future[Session] = asyncio.ensure_future(self._do_refresh())
            self._refreshing = fut

            def clear(_: Any) -> None:
                if self._refreshing is fut:
                    self._refreshing = None

            fut.add_done_callback(clear)
        return await asyncio.shield(self._refreshing)

    async def _do_refresh(self) -> Session:
        await self.ready()
        cur = self.session
        try:
            stored = await self._load()
        except Exception:
            stored = None
        if stored and stored.refresh != (cur.refresh if cur else None):
            # Another client over the same storage refreshed (or signed in) meanwhile: use its tokens.
            self._adopt(stored)
            cur = stored
            if not stored.expires_at or stored.expires_at - time.time() > self._margin(stored):
                return stored
        if not cur:
            raise BaasError("not_authenticated", "There is no session to refresh.")
        try:
            self.refresh_count += 1
            a = await self._http.request(
                "POST", "/v1/auth/token/refresh", json_body={"refresh": cur.refresh}, anonymous=True
            )
            return await self._start(a, "TOKEN_REFRESHED", cur.user)
        except BaasError as e:
            if e.status == 401 and self.session and self.session.refresh == cur.refresh:
                await self._save(None)
                self._set(None, "SIGNED_OUT")
            raise

    def on_auth_state_change(self, cb: AuthListener) -> Callable[[], None]:
        """`cb(event, session)`, first with `INITIAL_SESSION` once the stored session is loaded.

        Returns the unsubscribe."""
        self._listeners.append(cb)
        if self._loaded:
            self._call(cb, "INITIAL_SESSION", self.session)

        def off() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return off

    def close(self) -> None:
        self._closed = True
        if self._timer:
            self._timer.cancel()
