"""The HTTP core: credentials, Idempotency-Key, retries with backoff, error mapping."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import httpx

from ._util import backoff
from .errors import BaasError

RETRY_STATUS = {502, 503, 504, 429}


class Credentials(Protocol):
    async def token(self) -> str | None: ...
    async def rejected(self, token: str, code: str) -> bool: ...


def to_error(res: httpx.Response) -> BaasError:
    try:
        body = res.json()
    except Exception:
        body = None
    found = body.get("error") if isinstance(body, dict) else None
    e: dict[str, Any] = found if isinstance(found, dict) else {}
    fallback = "internal_error" if res.status_code >= 500 else "invalid_request"
    code = e["code"] if isinstance(e.get("code"), str) else fallback
    message = e["message"] if isinstance(e.get("message"), str) else f"HTTP {res.status_code}"
    details = e["details"] if isinstance(e.get("details"), dict) else {}
    return BaasError(code, message, res.status_code, details, res.headers.get("x-request-id"))


class Http:
    def __init__(
        self,
        base: str,
        *,
        retries: int = 3,
        retry_delay: float = 0.3,
        max_retry_delay: float = 10.0,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.retries = retries
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.headers = dict(headers or {})
        self.client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self.credentials: Credentials | None = None

    def url(self, path: str) -> str:
        return self.base + path

    async def request(
        self,
        method: str = "GET",
        path: str = "",
        *,
        query: Mapping[str, Any] | None = None,
        json_body: Any = None,
        has_json: bool | None = None,
        body: Callable[[], bytes | AsyncIterator[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        anonymous: bool = False,
        idempotency_key: str | bool | None = None,
        raw: bool = False,
        any_status: bool = False,
    ) -> Any:
        """`idempotency_key`: None → a fresh key for mutating calls; a string → that key; False → none.
        `any_status` (with `raw`): the response whatever its status (a function's own answer), after
        an expired token's refresh; no retries but of network failures."""
        mutating = method not in ("GET", "HEAD")
        key: str | None = None
        if mutating and idempotency_key is not False:
            key = idempotency_key if isinstance(idempotency_key, str) else uuid.uuid4().hex
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in (query or {}).items() if v is not None}
        send_json = json_body is not None if has_json is None else has_json
        extra = {k.lower(): v for k, v in (headers or {}).items()}
        # Safe to resend: reads, writes carrying an Idempotency-Key, PUT uploads (they replace) — not
        # `If-None-Match: *` uploads, whose retry after a lost answer would meet its own object.
        resendable = not mutating or key is not None or (method == "PUT" and "if-none-match" not in extra)
        refreshed = False
        attempt = 0
        while True:
            h: dict[str, str] = {"accept": "application/json", **self.headers, **extra}
            token = None if anonymous or self.credentials is None else await self.credentials.token()
            if token:
                h["authorization"] = f"Bearer {token}"
            if key:
                h["idempotency-key"] = key
            content: Any = None
            if send_json:
                h["content-type"] = "application/json"
                content = json.dumps(json_body).encode()
            elif body is not None:
                content = body()
            try:
                res = await self.client.request(method, self.url(path), params=params, headers=h, content=content)
            except httpx.TransportError as e:
                if attempt < self.retries and resendable:
                    await asyncio.sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise BaasError("network_error", f"Network failure: {e!r}") from e
            if res.is_success or (raw and res.status_code in (206, 304)):
                if raw or res.status_code == 204 or not res.content:
                    return res if raw else None
                return res.json()
            err = to_error(res)
            if (
                res.status_code == 401
                and token
                and not refreshed
                and self.credentials is not None
                and err.code in ("token_expired", "token_invalid")
            ):
                refreshed = True
                if await self.credentials.rejected(token, err.code):
                    continue
            if raw and any_status:
                return res
            retryable = res.status_code in RETRY_STATUS or err.code == "idempotency_key_in_use"
            if retryable and attempt < self.retries and resendable:
                try:
                    after = float(res.headers.get("retry-after") or 0)
                except ValueError:
                    after = 0
                await asyncio.sleep(min(self.max_retry_delay, max(after, self._delay(attempt))))
                attempt += 1
                continue
            raise err

    def _delay(self, attempt: int) -> float:
        return backoff(attempt, self.retry_delay, self.max_retry_delay)

    async def aclose(self) -> None:
        await self.client.aclose()
