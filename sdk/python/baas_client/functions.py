from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._http import Http
from ._util import enc
from .errors import BaasError


class Invocation(TypedDict, total=False):
    id: str
    function: str
    status: str
    result: Any
    error: dict[str, Any] | None


@dataclass
class HttpAnswer:
    """A function's answer at `/v1/functions/{name}/http/…`: whatever status it chose (a platform
    error, such as 401 or 413, arrives here too, in the API's error shape)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.body)


class Functions:
    def __init__(self, http: Http) -> None:
        self._http = http

    async def invoke(
        self, name: str, payload: Any = None, *, async_: bool = False, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Call the function's `@on_http` handler and wait for `{result, invocation}`; a failed run raises a
        BaasError with the function's error code. `async_=True` answers at once with the queued `{invocation}`."""
        r: dict[str, Any] = await self._http.request(
            "POST",
            f"/v1/functions/{enc(name)}/invoke",
            query={"async": "true"} if async_ else None,
            json_body={"payload": payload},
            has_json=True,
            idempotency_key=idempotency_key,
        )
        inv = r.get("invocation") or {}
        if not async_ and inv.get("status") in ("failed", "dead"):
            err = inv.get("error") or {}
            raise BaasError(
                err.get("code", "function_error"), err.get("message", "The function failed."), 200, {"invocation": inv}
            )
        return r

    async def http(
        self,
        name: str,
        path: str = "",
        *,
        method: str = "POST",
        body: bytes | str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpAnswer:
        """Send a request to the function's `@on_http` handler at `/v1/functions/{name}/http/{path}`
        (the webhook route) and return its answer as it is: status, headers, body bytes."""
        raw = json is None and body is not None
        data = body.encode() if isinstance(body, str) else body
        res = await self._http.request(
            method.upper(),
            f"/v1/functions/{enc(name)}/http/" + "/".join(enc(part) for part in path.lstrip("/").split("/")),
            query=query,
            json_body=json,
            has_json=json is not None,
            body=(lambda: data) if raw else None,
            headers={"accept": "*/*", **(headers or {})},
            idempotency_key=idempotency_key or False,
            raw=True,
            any_status=True,
        )
        return HttpAnswer(res.status_code, dict(res.headers), res.content)

    async def get(self, id: str) -> Invocation:
        return await self._http.request("GET", f"/v1/invocations/{enc(id)}")  # type: ignore[no-any-return]
