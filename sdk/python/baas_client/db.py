"""Documents: `client.db.collection(name)` and `client.db.batch(ops)`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from ._http import Http
from ._util import JsonObject, enc

if TYPE_CHECKING:
    from .realtime import Change, Realtime, Subscription

T = TypeVar("T")


class Document(TypedDict):
    id: str
    collection: str
    data: JsonObject
    owner: str | None
    version: int
    created_at: str
    updated_at: str


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page(p: Mapping[str, Any]) -> Page[Any]:
    return Page(items=list(p["items"]), next_cursor=p.get("next_cursor"))


def _if_match(if_version: int | None) -> dict[str, str] | None:
    return {"if-match": f'"{if_version}"'} if if_version is not None else None


class Collection:
    def __init__(self, http: Http, rt: Callable[[], Realtime], name: str) -> None:
        self._http = http
        self._rt = rt
        self.name = name
        self._path = f"/v1/db/{enc(name)}"

    async def create(self, data: JsonObject, *, id: str | None = None, idempotency_key: str | None = None) -> Document:
        body: dict[str, Any] = {"data": data}
        if id is not None:
            body["id"] = id
        return await self._http.request("POST", self._path, json_body=body, idempotency_key=idempotency_key)  # type: ignore[no-any-return]

    async def get(self, id: str) -> Document:
        return await self._http.request("GET", f"{self._path}/{enc(id)}")  # type: ignore[no-any-return]

    async def set(
        self, id: str, data: JsonObject, *, if_version: int | None = None, idempotency_key: str | None = None
    ) -> Document:
        """Replace the document's data (creating it when absent and the rules allow)."""
        return await self._http.request(  # type: ignore[no-any-return]
            "PUT",
            f"{self._path}/{enc(id)}",
            json_body={"data": data},
            headers=_if_match(if_version),
            idempotency_key=idempotency_key,
        )

    async def update(
        self,
        id: str,
        data: JsonObject | None = None,
        *,
        ops: Mapping[str, Any] | None = None,
        if_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Document:
        """Shallow-merge `data`, then apply `ops` atomically (`{"likes": {"increment": 1}}`)."""
        body: dict[str, Any] = {}
        if data is not None:
            body["data"] = data
        if ops is not None:
            body["ops"] = dict(ops)
        return await self._http.request(  # type: ignore[no-any-return]
            "PATCH",
            f"{self._path}/{enc(id)}",
            json_body=body,
            headers=_if_match(if_version),
            idempotency_key=idempotency_key,
        )

    async def delete(self, id: str, *, if_version: int | None = None, idempotency_key: str | None = None) -> None:
        await self._http.request(
            "DELETE", f"{self._path}/{enc(id)}", headers=_if_match(if_version), idempotency_key=idempotency_key
        )

    async def list(
        self,
        *,
        filter: str | None = None,
        order: str | Sequence[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Document]:
        o = order if order is None or isinstance(order, str) else ",".join(order)
        q = {"filter": filter, "order": o, "limit": limit, "cursor": cursor}
        return page(await self._http.request("GET", self._path, query=q))

    async def count(self, *, filter: str | None = None) -> int:
        return int((await self._http.request("GET", f"{self._path}/count", query={"filter": filter}))["count"])

    async def iterate(
        self, *, filter: str | None = None, order: str | Sequence[str] | None = None, limit: int | None = None
    ) -> AsyncIterator[Document]:
        """Every matching document, page by page."""
        cursor: str | None = None
        while True:
            p = await self.list(filter=filter, order=order, limit=limit, cursor=cursor)
            for d in p.items:
                yield d
            cursor = p.next_cursor
            if not cursor:
                return

    def __aiter__(self) -> AsyncIterator[Document]:
        return self.iterate()

    async def subscribe(
        self,
        on_change: Callable[[Change], Any],
        *,
        filter: str | None = None,
        snapshot: bool = False,
        on_error: Callable[[Any], Any] | None = None,
    ) -> Subscription:
        """Live changes (`added`/`modified`/`removed`), resumed across reconnects by `since` without a gap
        or a duplicate. Returns the unsubscribe."""
        return await self._rt().subscribe(
            {"collection": self.name}, on_change, filter=filter, snapshot=snapshot, on_error=on_error
        )


class Db:
    def __init__(self, http: Http, rt: Callable[[], Realtime]) -> None:
        self._http = http
        self._rt = rt

    def collection(self, name: str) -> Collection:
        return Collection(self._http, self._rt, name)

    async def batch(self, ops: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None) -> list[Any]:
        """All or nothing; the results in order.

        Each op: `{"op": "create"|"set"|"update"|"delete", "collection", ...}`."""
        r = await self._http.request(
            "POST", "/v1/db/batch", json_body={"ops": [dict(o) for o in ops]}, idempotency_key=idempotency_key
        )
        return r.get("results", r) if isinstance(r, dict) else r  # type: ignore[no-any-return]
