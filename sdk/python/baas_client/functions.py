from __future__ import annotations

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

    async def get(self, id: str) -> Invocation:
        return await self._http.request("GET", f"/v1/invocations/{enc(id)}")  # type: ignore[no-any-return]
